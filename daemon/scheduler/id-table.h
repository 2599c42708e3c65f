// Objects by task id, stored inline in chunks (DESIGN 11: a million queued
// tasks in memory). The scheduler's tasks used to be a std::map of
// heap-allocated summaries: a 64-byte tree node plus a malloc chunk each.
// Here a task costs sizeof(T) and a bit: ids only grow, so a new one is
// appended to the last chunk and the chunks stay sorted by id; a lookup is a
// binary search over chunks, then within one.
//
// References stay valid: an append never moves what is stored (a chunk is
// never reallocated), and erase() only marks the slot dead, leaving the
// object in place (what it owned is the caller's to move out first) until
// compact(), which moves the live objects together and frees the rest. Call
// compact() only where no reference into the table is held (from an event of
// its own, as the scheduler's trim timer). Dead slots cost their size until
// then, and at most a quarter of the live ones after it.
//
// An id lower than the highest stored one (a submit made durable out of id
// order, which group commit does not do, but nothing here relies on that)
// goes to a side map, still found by find(), merged in by compact().
#pragma once

#include <kj/common.h>
#include <kj/debug.h>
#include <kj/memory.h>
#include <kj/vector.h>
#include <stdint.h>
#include <string.h>

#include <map>
#include <new>

namespace taskctl {

template <typename T>
class IdTable {
  static constexpr size_t CHUNK = 1024;

  struct Chunk {
    uint32_t used = 0;  // slots constructed, in id order
    uint32_t live = 0;
    uint64_t liveBits[CHUNK / 64] = {};
    alignas(T) unsigned char slots[CHUNK * sizeof(T)];

    T& at(size_t i) { return *std::launder(reinterpret_cast<T*>(slots + i * sizeof(T))); }
    const T& at(size_t i) const {
      return *std::launder(reinterpret_cast<const T*>(slots + i * sizeof(T)));
    }
    bool isLive(size_t i) const { return liveBits[i / 64] >> (i % 64) & 1; }
    uint64_t firstId() const { return at(0).id(); }
    uint64_t lastId() const { return at(used - 1).id(); }
    Chunk() = default;
    ~Chunk() noexcept(false) {
      for (size_t i = 0; i < used; i++) at(i).~T();
    }
    KJ_DISALLOW_COPY(Chunk);
  };

  struct Stray {
    kj::Own<T> value;
    bool live = false;
  };
  using Strays = std::map<uint64_t, Stray>;

 public:
  // What an iterator points at, as a map's pair: `it->second->field` reads.
  struct Entry {
    uint64_t first;
    T* second;
  };

  class Iterator {
   public:
    Entry& operator*() { return entry; }
    Entry* operator->() { return &entry; }
    bool operator==(const Iterator& other) const { return entry.second == other.entry.second; }
    bool operator!=(const Iterator& other) const { return entry.second != other.entry.second; }
    Iterator& operator++() {
      if (chunk < table->chunks.size()) {
        slot++;
      } else {
        ++stray;
      }
      settle();
      return *this;
    }

   private:
    friend class IdTable;
    IdTable* table;
    size_t chunk, slot;  // chunk == chunks.size(): in the strays
    typename Strays::iterator stray;
    Entry entry{0, nullptr};

    Iterator(IdTable* table, size_t chunk, size_t slot, typename Strays::iterator stray)
        : table(table), chunk(chunk), slot(slot), stray(stray) {}
    // Moves to the first live entry from here on (this one included).
    void settle() {
      auto& chunks = table->chunks;
      while (chunk < chunks.size()) {
        auto& c = *chunks[chunk];
        for (; slot < c.used; slot++) {
          if (c.isLive(slot)) {
            entry = {c.at(slot).id(), &c.at(slot)};
            return;
          }
        }
        chunk++;
        slot = 0;
        if (chunk == chunks.size()) stray = table->strays.begin();
      }
      while (stray != table->strays.end() && !stray->second.live) ++stray;
      if (stray != table->strays.end()) {
        entry = {stray->first, stray->second.value.get()};
      } else {
        entry = {0, nullptr};
      }
    }
  };
  using iterator = Iterator;

  IdTable() = default;
  KJ_DISALLOW_COPY(IdTable);

  // Live entries: the chunks' in id order, then the strays'. Erasing the
  // entry a loop stands on is fine (nothing moves).
  Iterator begin() {
    Iterator it(this, 0, 0, chunks.size() == 0 ? strays.begin() : strays.end());
    it.settle();
    return it;
  }
  Iterator end() { return Iterator(this, chunks.size(), 0, strays.end()); }

  Iterator find(uint64_t id) {
    size_t c, s;
    if (locate(id, c, s)) {
      Iterator it(this, c, s, strays.end());
      it.entry = {id, &chunks[c]->at(s)};
      return it;
    }
    if (strays.empty()) return end();
    auto st = strays.find(id);
    if (st == strays.end() || !st->second.live) return end();
    Iterator it(this, chunks.size(), 0, st);
    it.entry = {id, st->second.value.get()};
    return it;
  }
  size_t count(uint64_t id) const {
    size_t c, s;
    if (locate(id, c, s)) return 1;
    auto st = strays.find(id);
    return st != strays.end() && st->second.live;
  }
  size_t size() const { return live; }
  bool empty() const { return live == 0; }

  T& emplace(uint64_t id, T&& value) {
    KJ_IREQUIRE(value.id() == id);
    if (chunks.size() > 0 && chunks.back()->used > 0 && id <= chunks.back()->lastId()) {
      KJ_REQUIRE(find(id) == end() && strays.count(id) == 0, "an id stored twice", id);
      auto& stray = strays[id];
      stray.value = kj::heap<T>(kj::mv(value));
      stray.live = true;
      live++;
      return *stray.value;
    }
    if (chunks.size() == 0 || chunks.back()->used == CHUNK) chunks.add(kj::heap<Chunk>());
    auto& c = *chunks.back();
    size_t s = c.used;
    new (c.slots + s * sizeof(T)) T(kj::mv(value));
    c.used++;
    c.live++;
    c.liveBits[s / 64] |= uint64_t(1) << (s % 64);
    live++;
    return c.at(s);
  }

  void erase(Iterator it) {
    KJ_IREQUIRE(it != end());
    live--;
    if (it.chunk < chunks.size()) {
      auto& c = *chunks[it.chunk];
      c.liveBits[it.slot / 64] &= ~(uint64_t(1) << (it.slot % 64));
      c.live--;
      dead++;
    } else {
      it.stray->second.live = false;  // stays valid until compact(), like a chunk's
      deadStrays++;
    }
  }

  size_t deadCount() const { return dead + deadStrays; }

  void compact() {
    // Where no reference into the table is held (see the top). Chunks with
    // nothing live go; the rest are repacked only once a fifth of the slots
    // are dead (or some ids came out of order), so that a busy daemon with a
    // million queued tasks does not copy them all each time a few end.
    if (dead == 0 && strays.empty()) return;
    if (strays.empty() && dead * 4 <= live) {
      size_t kept = 0;
      for (size_t i = 0; i < chunks.size(); i++) {
        if (chunks[i]->live == 0) {
          dead -= chunks[i]->used;
          chunks[i] = nullptr;
        } else {
          if (kept != i) chunks[kept] = kj::mv(chunks[i]);  // never onto itself
          kept++;
        }
      }
      chunks.truncate(kept);
      return;
    }
    kj::Vector<kj::Own<Chunk>> kept;
    auto put = [&](T&& value) {
      if (kept.size() == 0 || kept.back()->used == CHUNK) kept.add(kj::heap<Chunk>());
      auto& c = *kept.back();
      size_t s = c.used;
      new (c.slots + s * sizeof(T)) T(kj::mv(value));
      c.used++;
      c.live++;
      c.liveBits[s / 64] |= uint64_t(1) << (s % 64);
    };
    auto stray = strays.begin();
    for (auto& chunk : chunks) {
      for (size_t s = 0; s < chunk->used; s++) {
        if (!chunk->isLive(s)) continue;
        auto& value = chunk->at(s);
        for (; stray != strays.end() && stray->first < value.id(); ++stray) {
          if (stray->second.live) put(kj::mv(*stray->second.value));
        }
        put(kj::mv(value));
      }
      chunk = nullptr;  // freed as we go: the peak is one table and a chunk
    }
    for (; stray != strays.end(); ++stray) {
      if (stray->second.live) put(kj::mv(*stray->second.value));
    }
    strays.clear();
    chunks = kj::mv(kept);
    dead = deadStrays = 0;
  }

 private:
  kj::Vector<kj::Own<Chunk>> chunks;
  Strays strays;
  size_t live = 0, dead = 0, deadStrays = 0;

  bool locate(uint64_t id, size_t& chunkOut, size_t& slotOut) const {
    // The last chunk whose first id is <= id.
    size_t lo = 0, hi = chunks.size();
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      if (chunks[mid]->used > 0 && chunks[mid]->firstId() <= id) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    if (lo == 0) return false;
    auto& c = *chunks[lo - 1];
    size_t a = 0, b = c.used;
    while (a < b) {
      size_t mid = (a + b) / 2;
      if (c.at(mid).id() < id) {
        a = mid + 1;
      } else {
        b = mid;
      }
    }
    if (a == c.used || c.at(a).id() != id || !c.isLive(a)) return false;
    chunkOut = lo - 1;
    slotOut = a;
    return true;
  }
};

}  // namespace taskctl
