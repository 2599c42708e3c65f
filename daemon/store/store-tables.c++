#include "store/store-tables.h"

#include <errno.h>
#include <kj/debug.h>

#include "common/errors.h"
#include "store/crc32c.h"

namespace taskctl {

kj::Array<kj::byte> sealValue(kj::ArrayPtr<const kj::byte> key,
                              kj::ArrayPtr<const kj::byte> payload) {
  auto value = kj::heapArray<kj::byte>(payload.size() + STORE_CHECKSUM_BYTES);
  if (payload.size() > 0) memcpy(value.begin(), payload.begin(), payload.size());
  uint32_t crc = crc32c(crc32c(0, key.begin(), key.size()), payload.begin(), payload.size());
  for (size_t i = 0; i < STORE_CHECKSUM_BYTES; i++) value[payload.size() + i] = crc >> (8 * i);
  return value;
}

kj::Maybe<kj::ArrayPtr<const kj::byte>> unsealValue(kj::ArrayPtr<const kj::byte> key,
                                                    kj::ArrayPtr<const kj::byte> value) {
  if (value.size() < STORE_CHECKSUM_BYTES) return nullptr;
  auto payload = value.slice(0, value.size() - STORE_CHECKSUM_BYTES);
  uint32_t crc = crc32c(crc32c(0, key.begin(), key.size()), payload.begin(), payload.size());
  uint32_t stored = 0;
  for (size_t i = 0; i < STORE_CHECKSUM_BYTES; i++) {
    stored |= uint32_t(value[payload.size() + i]) << (8 * i);
  }
  if (crc != stored) return nullptr;
  return payload;
}

namespace lmdb {

bool isCorruption(int rc) {
  return rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_INVALID ||
         rc == MDB_VERSION_MISMATCH;
}

void check(Store& store, int rc, kj::StringPtr what) {
  if (rc == MDB_SUCCESS) return;
  auto path = store.path();
  if (isCorruption(rc)) store.failCorrupt(kj::str(what, ": ", mdb_strerror(rc)));
  if (rc == MDB_MAP_FULL || rc == MDB_TXN_FULL) {
    overloaded(kj::str("store full (", path, "): ", what, ": ", mdb_strerror(rc)));
  }
  // A store that cannot write is full, not a bad request (exit 75, never
  // 65). LMDB reports a short write as EIO ("short write, filesystem
  // full?"); its writes are plain pwrite calls, which fail this way when the
  // disk, a quota or RLIMIT_FSIZE is out of room.
  if (rc == ENOSPC || rc == EDQUOT || rc == EFBIG || rc == EIO) {
    overloaded(kj::str("store full: cannot write ", path,
                       " (no space left on its filesystem?): ", what, ": ", mdb_strerror(rc)));
  }
  refuse(kj::str("store ", path, ": ", what, ": ", mdb_strerror(rc)));
}

kj::Array<kj::byte> idKey(uint64_t id) {
  auto key = kj::heapArray<kj::byte>(8);
  for (int i = 0; i < 8; i++) key[i] = id >> (56 - 8 * i);
  return key;
}

uint64_t readId(const kj::byte* p) {
  uint64_t id = 0;
  for (int i = 0; i < 8; i++) id = (id << 8) | p[i];
  return id;
}

namespace {

// Times are signed: flipping the sign bit makes their big-endian bytes sort
// as the numbers do, so a cursor walk is oldest first even before 1970.
constexpr uint64_t SIGN = 1ull << 63;

void writeTime(kj::byte* p, int64_t time) {
  auto bits = static_cast<uint64_t>(time) ^ SIGN;
  for (int i = 0; i < 8; i++) p[i] = bits >> (56 - 8 * i);
}

void writeUid(kj::byte* p, uint32_t uid) {
  for (int i = 0; i < 4; i++) p[i] = uid >> (24 - 8 * i);
}

}  // namespace

int64_t readTime(const kj::byte* p) { return static_cast<int64_t>(readId(p) ^ SIGN); }

uint32_t readUid(const kj::byte* p) {
  uint32_t uid = 0;
  for (int i = 0; i < 4; i++) uid = (uid << 8) | p[i];
  return uid;
}

// finishedAt id: a cursor walk meets the oldest finish first.
kj::Array<kj::byte> finishedKey(int64_t finishedAt, uint64_t id) {
  auto key = kj::heapArray<kj::byte>(16);
  writeTime(key.begin(), finishedAt);
  auto idBytes = idKey(id);
  memcpy(key.begin() + 8, idBytes.begin(), 8);
  return key;
}

// uid requestId: request ids are per user, so the uid is part of the key.
kj::Array<kj::byte> requestKey(uint32_t uid, kj::StringPtr requestId) {
  auto key = kj::heapArray<kj::byte>(4 + requestId.size());
  writeUid(key.begin(), uid);
  memcpy(key.begin() + 4, requestId.begin(), requestId.size());
  return key;
}

// createdAt uid requestId: expiry walks from the oldest and stops at the first
// one still young, and the key alone names the mapping to delete.
kj::Array<kj::byte> requestAgeKey(int64_t createdAt, uint32_t uid, kj::StringPtr requestId) {
  auto key = kj::heapArray<kj::byte>(12 + requestId.size());
  writeTime(key.begin(), createdAt);
  writeUid(key.begin() + 8, uid);
  memcpy(key.begin() + 12, requestId.begin(), requestId.size());
  return key;
}

kj::Array<kj::byte> attemptKey(uint64_t id, uint32_t number) {
  auto key = kj::heapArray<kj::byte>(12);
  for (int i = 0; i < 8; i++) key[i] = id >> (56 - 8 * i);
  for (int i = 0; i < 4; i++) key[8 + i] = number >> (24 - 8 * i);
  return key;
}

kj::String keyText(kj::StringPtr table, const MDB_val& key) {
  auto bytes = static_cast<const kj::byte*>(key.mv_data);
  if (key.mv_size == 8) return kj::str(table, " ", readId(bytes));
  if (key.mv_size == 12 && table == "attempts") {
    return kj::str("attempts ", readId(bytes), "/",
                   (uint32_t(bytes[8]) << 24) | (bytes[9] << 16) | (bytes[10] << 8) | bytes[11]);
  }
  kj::Vector<char> hex;
  for (size_t i = 0; i < kj::min(key.mv_size, size_t(24)); i++) {
    hex.addAll(kj::hex(bytes[i]));
  }
  return kj::str(table, " key ", kj::heapString(hex.begin(), hex.size()));
}

Bounds mapBounds(Store& store, MDB_env* env) {
  auto begin = static_cast<const kj::byte*>(store.mapAddress());
  if (begin == nullptr) return Bounds{};
  MDB_envinfo info;
  MDB_stat stat;
  mdb_env_info(env, &info);
  mdb_env_stat(env, &stat);
  return Bounds{begin, begin + (info.me_last_pgno + 1) * size_t(stat.ms_psize)};
}

void checkBounds(Store& store, const Bounds& bounds, kj::StringPtr table, const MDB_val& key,
                 const MDB_val& val, bool ownKey) {
  auto inside = [&](const MDB_val& v) {
    auto p = static_cast<const kj::byte*>(v.mv_data);
    return v.mv_size == 0 ||
           (p >= bounds.begin && p <= bounds.end && v.mv_size <= size_t(bounds.end - p));
  };
  if (bounds.begin == nullptr) return;
  if (!ownKey && !inside(key))
    store.failCorrupt(kj::str("a key in table ", table, " lies outside the file"));
  if (!inside(val)) {
    store.failCorrupt(kj::str("the value of ", keyText(table, key), " lies outside the file"));
  }
}

kj::Array<capnp::word> recordWords(Store& store, const Bounds& bounds, kj::StringPtr table,
                                   const MDB_val& key, const MDB_val& val, bool ownKey) {
  checkBounds(store, bounds, table, key, val, ownKey);
  KJ_IF_MAYBE (payload, unsealValue(bytesOf(key), bytesOf(val))) {
    if (payload->size() % sizeof(capnp::word) != 0 || payload->size() == 0) {
      store.failCorrupt(kj::str(keyText(table, key), " has a record of ", payload->size(),
                                " bytes, not whole words"));
    }
    auto words = kj::heapArray<capnp::word>(payload->size() / sizeof(capnp::word));
    memcpy(words.begin(), payload->begin(), payload->size());
    return words;
  }
  store.failCorrupt(kj::str("checksum mismatch in ", keyText(table, key)));
}

kj::ArrayPtr<const capnp::word> recordView(Store& store, const Bounds& bounds, kj::StringPtr table,
                                           const MDB_val& key, const MDB_val& val,
                                           kj::Vector<capnp::word>& scratch) {
  checkBounds(store, bounds, table, key, val);
  KJ_IF_MAYBE (payload, unsealValue(bytesOf(key), bytesOf(val))) {
    if (payload->size() % sizeof(capnp::word) != 0 || payload->size() == 0) {
      store.failCorrupt(kj::str(keyText(table, key), " has a record of ", payload->size(),
                                " bytes, not whole words"));
    }
    size_t n = payload->size() / sizeof(capnp::word);
    if (reinterpret_cast<uintptr_t>(payload->begin()) % alignof(capnp::word) == 0) {
      return kj::arrayPtr(reinterpret_cast<const capnp::word*>(payload->begin()), n);
    }
    scratch.resize(n);
    memcpy(scratch.begin(), payload->begin(), payload->size());
    return scratch.asPtr();
  }
  store.failCorrupt(kj::str("checksum mismatch in ", keyText(table, key)));
}

void checkIndexEntry(Store& store, const Bounds& bounds, kj::StringPtr table, const MDB_val& key,
                     const MDB_val& val) {
  checkBounds(store, bounds, table, key, val);
  KJ_IF_MAYBE (payload, unsealValue(bytesOf(key), bytesOf(val))) {
    if (payload->size() == 0) return;
  }
  store.failCorrupt(kj::str("checksum mismatch in ", keyText(table, key)));
}

kj::Array<kj::byte> metaRecord(uint64_t nextId, const DrainState& drain) {
  capnp::MallocMessageBuilder message;
  auto meta = message.initRoot<records::Meta>();
  meta.setFormatVersion(records::FORMAT_VERSION);
  meta.setNextId(nextId);
  if (drain.drained) {
    meta.setDrained(true);
    meta.setDrainedBy(drain.by);
    meta.setDrainedAt(drain.at);
  }
  return sealValue(META_KEY.asBytes(), capnp::messageToFlatArray(message).asBytes());
}

void walk(Store& store, MDB_txn* txn, MDB_dbi dbi, kj::ArrayPtr<const kj::byte> start,
          kj::FunctionParam<bool(const MDB_val& key, const MDB_val& val)> fn, MDB_cursor_op first,
          MDB_cursor_op next) {
  Cursor cursor(store, txn, dbi);
  MDB_val key = asVal(start), val;
  if (start.size() > 0) first = MDB_SET_RANGE;
  int rc = mdb_cursor_get(cursor.cursor, &key, &val, first);
  for (; rc == MDB_SUCCESS; rc = mdb_cursor_get(cursor.cursor, &key, &val, next)) {
    if (!fn(key, val)) return;
  }
  if (rc != MDB_NOTFOUND) check(store, rc, "walk");
}

void checkOpen(Store& store, int rc, kj::StringPtr what) {
  if (rc == MDB_MAP_FULL) throw MapFull();
  check(store, rc, what);
}

void putOpen(Store& store, MDB_txn* txn, MDB_dbi dbi, kj::ArrayPtr<const kj::byte> keyBytes,
             kj::ArrayPtr<const kj::byte> valBytes, kj::StringPtr what) {
  MDB_val key = asVal(keyBytes), val = asVal(valBytes);
  checkOpen(store, mdb_put(txn, dbi, &key, &val, 0), what);
}

void commitOpen(Store& store, MDB_txn*& txn, kj::StringPtr what) {
  int rc = mdb_txn_commit(txn);
  txn = nullptr;
  checkOpen(store, rc, what);
}

}  // namespace lmdb
}  // namespace taskctl
