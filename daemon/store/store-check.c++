#include "store/store-check.h"

#include <dirent.h>
#include <errno.h>
#include <kj/debug.h>
#include <lmdb.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <set>
#include <string>
#include <tuple>

#include "common/errors.h"
#include "store/store-tables.h"
#include "store/store.h"

namespace taskctl {
namespace {

uint64_t readBE(const kj::byte* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) v = (v << 8) | p[i];
  return v;
}

int64_t readTime(const kj::byte* p) { return static_cast<int64_t>(readBE(p, 8) ^ (1ull << 63)); }

kj::ArrayPtr<const kj::byte> bytesOf(const MDB_val& v) {
  return kj::arrayPtr(static_cast<const kj::byte*>(v.mv_data), v.mv_size);
}

kj::String keyText(kj::StringPtr table, const MDB_val& key) {
  auto p = static_cast<const kj::byte*>(key.mv_data);
  if (key.mv_size == 8) return kj::str(table, " ", readBE(p, 8));
  if (table == "attempts" && key.mv_size == 12) {
    return kj::str("attempts ", readBE(p, 8), "/", readBE(p + 8, 4));
  }
  kj::Vector<char> hex;
  for (size_t i = 0; i < kj::min(key.mv_size, size_t(24)); i++) hex.addAll(kj::hex(p[i]));
  return kj::str(table, " key ", kj::heapString(hex.begin(), hex.size()));
}

// The source store, opened read-only: nothing here writes to it.
struct Source {
  kj::String dir;
  MDB_env* env = nullptr;
  bool sealed = true;  // format 3: values carry checksums
  uint32_t version = 0;
  kj::Maybe<uint64_t> nextId;
  DrainState drain;  // `taskctl drain`, kept by a salvage

  explicit Source(kj::StringPtr dirArg) : dir(kj::str(dirArg)) {
    auto dataFile = kj::str(dir, "/data.mdb");
    if (access(dataFile.cStr(), F_OK) != 0) {
      KJ_FAIL_REQUIRE(kj::str("no store at ", dir, " (", dataFile, ": ", strerror(errno), ")"));
    }
    KJ_IF_MAYBE (problem, storeFileProblem(dataFile)) {
      KJ_FAIL_REQUIRE(kj::str("the store ", dataFile, " is corrupt (", *problem,
                              "); LMDB cannot read it at all"));
    }
    KJ_REQUIRE(mdb_env_create(&env) == 0);
    mdb_env_set_assert(env, throwOnLmdbAssert);
    mdb_env_set_maxdbs(env, 16);
    struct stat st;
    size_t map = 1 << 20;
    if (stat(dataFile.cStr(), &st) == 0) {
      while (map < size_t(st.st_size)) map *= 2;
    }
    mdb_env_set_mapsize(env, map);
    int rc = mdb_env_open(env, dir.cStr(), MDB_RDONLY | MDB_NOTLS, 0600);
    if (rc != 0) {
      mdb_env_close(env);
      env = nullptr;
      KJ_FAIL_REQUIRE(kj::str("cannot open the store at ", dir, ": ", mdb_strerror(rc)));
    }
  }
  ~Source() {
    if (env != nullptr) mdb_env_close(env);
  }
  KJ_DISALLOW_COPY(Source);

  // Walks `table` from its first key (or from `from`), calling fn for each
  // entry. Returns the error that stopped the walk early, if one did: LMDB's
  // (a damaged page) or fn's own exception is caught by the caller per record.
  kj::Maybe<kj::String> walk(kj::StringPtr table, kj::ArrayPtr<const kj::byte> from,
                             kj::FunctionParam<void(const MDB_val&, const MDB_val&)> fn) {
    kj::Maybe<kj::String> error;
    MDB_txn* txn = nullptr;
    MDB_cursor* cursor = nullptr;
    KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() {
                   int rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn);
                   if (rc != 0) {
                     error = kj::str(mdb_strerror(rc));
                     return;
                   }
                   MDB_dbi dbi;
                   rc = mdb_dbi_open(txn, table.cStr(), 0, &dbi);
                   if (rc == MDB_NOTFOUND) return;  // an older format's missing table
                   if (rc == 0) rc = mdb_cursor_open(txn, dbi, &cursor);
                   MDB_val key{from.size(), const_cast<kj::byte*>(from.begin())}, val;
                   if (rc == 0) {
                     rc = mdb_cursor_get(cursor, &key, &val,
                                         from.size() ? MDB_SET_RANGE : MDB_FIRST);
                   }
                   for (; rc == 0; rc = mdb_cursor_get(cursor, &key, &val, MDB_NEXT)) fn(key, val);
                   if (rc != MDB_NOTFOUND) error = kj::str(mdb_strerror(rc));
                 })) {
      error = kj::str(e->getDescription());
    }
    if (cursor != nullptr) mdb_cursor_close(cursor);
    if (txn != nullptr) mdb_txn_abort(txn);
    return error;
  }

  // One value by key: its bytes copied out, null if absent; throws on damage.
  kj::Maybe<kj::Array<kj::byte>> get(kj::StringPtr table, kj::ArrayPtr<const kj::byte> keyBytes) {
    MDB_txn* txn;
    KJ_REQUIRE(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0);
    KJ_DEFER(mdb_txn_abort(txn));
    MDB_dbi dbi;
    if (mdb_dbi_open(txn, table.cStr(), 0, &dbi) != 0) return nullptr;
    MDB_val key{keyBytes.size(), const_cast<kj::byte*>(keyBytes.begin())}, val;
    int rc = mdb_get(txn, dbi, &key, &val);
    if (rc == MDB_NOTFOUND) return nullptr;
    KJ_REQUIRE(rc == 0, mdb_strerror(rc));
    return kj::heapArray(bytesOf(val));
  }

  // The payload of a value (checksum verified in format 3); throws a line.
  kj::ArrayPtr<const kj::byte> payload(kj::StringPtr table, const MDB_val& key,
                                       const MDB_val& val) {
    auto bytes = bytesOf(val);
    if (!sealed) return bytes;
    KJ_IF_MAYBE (p, unsealValue(bytesOf(key), bytes)) return *p;
    KJ_FAIL_REQUIRE(kj::str(keyText(table, key), ": checksum mismatch"));
  }
};

kj::Array<capnp::word> wordsOf(kj::StringPtr table, const MDB_val& key,
                               kj::ArrayPtr<const kj::byte> payload) {
  KJ_REQUIRE(payload.size() % sizeof(capnp::word) == 0 && payload.size() > 0,
             kj::str(keyText(table, key), ": a record of ", payload.size(), " bytes"));
  auto words = kj::heapArray<capnp::word>(payload.size() / sizeof(capnp::word));
  memcpy(words.begin(), payload.begin(), payload.size());
  return words;
}

// Reads a record whole with the daemon's limits and hands it to fn; any
// problem is thrown as one line naming the record.
template <typename T>
void readWhole(kj::StringPtr table, const MDB_val& key, kj::ArrayPtr<const kj::byte> payload,
               kj::FunctionParam<void(typename T::Reader)> fn) {
  auto words = wordsOf(table, key, payload);
  kj::Maybe<kj::Exception> failure = kj::runCatchingExceptions([&]() {
    capnp::FlatArrayMessageReader reader(words, STORE_READER_OPTIONS);
    auto root = reader.getRoot<T>();
    root.totalSize();
    fn(root);
  });
  KJ_IF_MAYBE (e, failure) {
    auto text = e->getDescription();
    if (text.startsWith(keyText(table, key))) rethrow(kj::mv(*e));
    KJ_FAIL_REQUIRE(kj::str(keyText(table, key), ": does not decode (", text, ")"));
  }
}

void readMeta(Source& source, StoreReport& report) {
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() {
                 KJ_IF_MAYBE (bytes, source.get("meta", "meta"_kj.asBytes())) {
                   MDB_val key{4, const_cast<char*>("meta")};
                   kj::ArrayPtr<const kj::byte> payload = *bytes;
                   bool sealed = bytes->size() % 8 == STORE_CHECKSUM_BYTES;
                   if (sealed) {
                     KJ_IF_MAYBE (p, unsealValue("meta"_kj.asBytes(), *bytes)) {
                       payload = *p;
                     } else {
                       KJ_FAIL_REQUIRE("the meta record: checksum mismatch");
                     }
                   }
                   readWhole<records::Meta>("meta", key, payload, [&](records::Meta::Reader m) {
                     source.version = m.getFormatVersion();
                     source.nextId = m.getNextId();
                     source.drain = DrainState{m.getDrained(), m.getDrainedBy(), m.getDrainedAt()};
                   });
                   source.sealed = sealed;
                   KJ_REQUIRE(source.version <= records::FORMAT_VERSION,
                              kj::str("format ", source.version, " is newer than this taskctld (",
                                      records::FORMAT_VERSION, ")"));
                   KJ_REQUIRE(sealed == (source.version >= 3),
                              kj::str("the meta record says format ", source.version, " but is ",
                                      sealed ? "" : "not ", "checksummed"));
                 } else {
                   KJ_FAIL_REQUIRE("no meta record");
                 }
               })) {
    report.problems.add(kj::str(e->getDescription()));
    report.dropped.add(kj::str("the meta record (", e->getDescription(), ")"));
  }
}

struct TaskFacts {
  uint16_t state;
  int64_t finishedAt;
};

}  // namespace

StoreReport checkStore(kj::StringPtr dir) {
  StoreReport report;
  Source source(dir);
  readMeta(source, report);
  auto problem = [&](kj::String line) { report.problems.add(kj::mv(line)); };
  // Every value, record by record: a bad one is reported and the walk goes on.
  auto each = [&](kj::StringPtr table, auto&& fn) {
    KJ_IF_MAYBE (error, source.walk(table, nullptr, [&](const MDB_val& key, const MDB_val& val) {
                   KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { fn(key, val); })) {
                     problem(kj::str(e->getDescription()));
                   } else {
                     report.records++;
                   }
                 })) {
      problem(kj::str("table ", table, ": cannot be read to its end: ", *error));
    }
  };
  auto index = [&](kj::StringPtr table, const MDB_val& key, const MDB_val& val) {
    auto payload = source.payload(table, key, val);
    KJ_REQUIRE(payload.size() == 0, kj::str(keyText(table, key), ": an index entry with a value"));
  };

  std::map<uint64_t, TaskFacts> tasks;
  uint64_t maxId = 0;
  each("tasks", [&](const MDB_val& key, const MDB_val& val) {
    KJ_REQUIRE(key.mv_size == 8, kj::str(keyText("tasks", key), ": not an id"));
    uint64_t id = readBE(static_cast<const kj::byte*>(key.mv_data), 8);
    maxId = kj::max(maxId, id);
    readWhole<records::Task>(
        "tasks", key, source.payload("tasks", key, val), [&](records::Task::Reader t) {
          KJ_REQUIRE(t.getId() == id, kj::str("tasks ", id, ": holds task ", t.getId()));
          auto state = static_cast<uint16_t>(t.getState());
          KJ_REQUIRE(state <= static_cast<uint16_t>(records::TaskState::PAUSED),
                     kj::str("tasks ", id, ": state ", state));
          tasks[id] = TaskFacts{state, t.getFinishedAt()};
        });
  });
  KJ_IF_MAYBE (next, source.nextId) {
    if (*next <= maxId) {
      problem(kj::str("the meta's next id ", *next, " is not above the highest task id ", maxId));
    }
  }
  auto terminal = [](uint16_t state) { return isTerminal(static_cast<records::TaskState>(state)); };
  // A `ready` index (format 3 and older) is left to the upgrade, which drops it.
  std::set<uint64_t> activeIds, finishedIds;
  each("active", [&](const MDB_val& key, const MDB_val& val) {
    index("active", key, val);
    KJ_REQUIRE(key.mv_size == 8, kj::str(keyText("active", key), ": not an id"));
    uint64_t id = readBE(static_cast<const kj::byte*>(key.mv_data), 8);
    activeIds.insert(id);
    auto it = tasks.find(id);
    KJ_REQUIRE(it != tasks.end() && !terminal(it->second.state),
               kj::str("active ", id, ": lists a task that is missing or terminal"));
  });
  each("finished", [&](const MDB_val& key, const MDB_val& val) {
    index("finished", key, val);
    KJ_REQUIRE(key.mv_size == 16, kj::str(keyText("finished", key), ": malformed"));
    auto p = static_cast<const kj::byte*>(key.mv_data);
    uint64_t id = readBE(p + 8, 8);
    finishedIds.insert(id);
    auto it = tasks.find(id);
    KJ_REQUIRE(
        it != tasks.end() && terminal(it->second.state) && it->second.finishedAt == readTime(p),
        kj::str("finished ", id, ": does not match a terminal task"));
  });
  for (auto& [id, facts] : tasks) {
    if (!terminal(facts.state) && activeIds.count(id) == 0) {
      problem(kj::str("tasks ", id, ": not terminal, but missing from the active index"));
    }
    if (terminal(facts.state) && finishedIds.count(id) == 0) {
      problem(kj::str("tasks ", id, ": terminal, but missing from the finished index"));
    }
  }
  each("attempts", [&](const MDB_val& key, const MDB_val& val) {
    KJ_REQUIRE(key.mv_size == 12, kj::str(keyText("attempts", key), ": malformed"));
    auto p = static_cast<const kj::byte*>(key.mv_data);
    readWhole<records::Attempt>(
        "attempts", key, source.payload("attempts", key, val), [&](records::Attempt::Reader a) {
          KJ_REQUIRE(a.getTaskId() == readBE(p, 8) && a.getNumber() == readBE(p + 8, 4),
                     kj::str(keyText("attempts", key), ": holds another attempt"));
        });
  });
  each("tombstones", [&](const MDB_val& key, const MDB_val& val) {
    readWhole<records::Tombstone>(
        "tombstones", key, source.payload("tombstones", key, val),
        [&](records::Tombstone::Reader t) {
          KJ_REQUIRE(
              key.mv_size == 8 && t.getId() == readBE(static_cast<const kj::byte*>(key.mv_data), 8),
              kj::str(keyText("tombstones", key), ": holds another id"));
        });
  });
  std::set<std::string> requests;
  each("requests", [&](const MDB_val& key, const MDB_val& val) {
    readWhole<records::RequestMapping>("requests", key, source.payload("requests", key, val),
                                       [&](records::RequestMapping::Reader) {});
    requests.insert(std::string(static_cast<const char*>(key.mv_data), key.mv_size));
  });
  each("requests-by-age", [&](const MDB_val& key, const MDB_val& val) {
    index("requests-by-age", key, val);
    KJ_REQUIRE(key.mv_size >= 12, kj::str(keyText("requests-by-age", key), ": malformed"));
    KJ_REQUIRE(
        requests.count(std::string(static_cast<const char*>(key.mv_data) + 8, key.mv_size - 8)) > 0,
        kj::str(keyText("requests-by-age", key), ": lists a missing request"));
  });
  each("queues", [&](const MDB_val& key, const MDB_val& val) {
    readWhole<records::QueueSettings>(
        "queues", key, source.payload("queues", key, val), [&](records::QueueSettings::Reader q) {
          KJ_REQUIRE(q.getName().asBytes() == bytesOf(key),
                     kj::str(keyText("queues", key), ": holds another queue"));
        });
  });
  each("events", [&](const MDB_val& key, const MDB_val& val) {
    readWhole<records::Event>(
        "events", key, source.payload("events", key, val), [&](records::Event::Reader e) {
          KJ_REQUIRE(key.mv_size == 8 &&
                         e.getSeq() == readBE(static_cast<const kj::byte*>(key.mv_data), 8),
                     kj::str(keyText("events", key), ": holds another seq"));
        });
  });
  return report;
}

StoreReport salvageStore(kj::StringPtr dir, kj::StringPtr outDir) {
  StoreReport report;
  Source source(dir);
  readMeta(source, report);
  report.problems.clear();
  // A new store only: salvaging into a live one would mix two histories.
  if (DIR* d = opendir(outDir.cStr())) {
    bool empty = true;
    while (auto entry = readdir(d)) {
      if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0) empty = false;
    }
    closedir(d);
    KJ_REQUIRE(empty, kj::str(outDir, " is not empty; salvage into a new directory"));
  }
  Store out(outDir);
  KJ_IF_MAYBE (next, source.nextId) out.raiseNextId(*next);
  if (source.drain.drained) out.setDrainState(source.drain);  // still drained once salvaged
  size_t staged = 0;
  auto flush = [&](bool force) {
    if (++staged >= 1000 || force) {
      out.commit();
      staged = 0;
    }
  };
  auto drop = [&](kj::String what) { report.dropped.add(kj::mv(what)); };

  // Each table: copy what reads whole. Where a damaged page stops the walk,
  // go on from the next key after the last one read (and, for tasks, look
  // every further id up by itself, since a walk cannot step over the page).
  std::set<uint64_t> kept;
  auto copyTable = [&](kj::StringPtr table, auto&& copy, auto&& nextKey) {
    kj::Array<kj::byte> from = nullptr;
    for (int restarts = 0;; restarts++) {
      kj::Maybe<kj::Array<kj::byte>> last;
      auto error = source.walk(table, from, [&](const MDB_val& key, const MDB_val& val) {
        last = kj::heapArray(bytesOf(key));
        KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { copy(key, val); })) {
          drop(kj::str(e->getDescription()));
        } else {
          report.records++;
        }
      });
      KJ_IF_MAYBE (e, error) {
        kj::Maybe<kj::Array<kj::byte>> after;
        KJ_IF_MAYBE (l, last) after = nextKey(*l);
        KJ_IF_MAYBE (a, after) {
          if (restarts < 1000 && (from == nullptr || *a != from)) {
            drop(kj::str("table ", table, ": a damaged page after ",
                         keyText(table, MDB_val{KJ_ASSERT_NONNULL(last).size(),
                                                KJ_ASSERT_NONNULL(last).begin()}),
                         " (", *e, ")"));
            from = kj::mv(*a);
            continue;
          }
        }
        drop(kj::str("table ", table, ": the rest after a damaged page (", *e, ")"));
      }
      return;
    }
  };
  auto noNext = [](kj::ArrayPtr<const kj::byte>) -> kj::Maybe<kj::Array<kj::byte>> {
    return nullptr;
  };

  uint64_t lastTask = 0;
  auto copyTask = [&](const MDB_val& key, const MDB_val& val) {
    readWhole<records::Task>(
        "tasks", key, source.payload("tasks", key, val), [&](records::Task::Reader t) {
          KJ_REQUIRE(
              key.mv_size == 8 && t.getId() == readBE(static_cast<const kj::byte*>(key.mv_data), 8),
              kj::str(keyText("tasks", key), ": holds another id"));
          out.raiseNextId(t.getId() + 1);
          if (lmdb::hasFlatLimits(t)) {
            // From format 3 or older: limits as format 4 keeps them.
            capnp::MallocMessageBuilder message;
            message.setRoot(t);
            auto task = message.getRoot<records::Task>();
            lmdb::moveFlatLimits(task);
            out.putTask(task.asReader());
          } else {
            out.putTask(t);
          }
          kept.insert(t.getId());
        });
    flush(false);
  };
  KJ_IF_MAYBE (error, source.walk("tasks", nullptr, [&](const MDB_val& key, const MDB_val& val) {
                 if (key.mv_size == 8)
                   lastTask = readBE(static_cast<const kj::byte*>(key.mv_data), 8);
                 KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() { copyTask(key, val); })) {
                   drop(kj::str(e->getDescription()));
                 } else {
                   report.records++;
                 }
               })) {
    // One id at a time past the damage, up to the meta's counter.
    uint64_t end = lastTask + 1000000;
    KJ_IF_MAYBE (next, source.nextId) end = kj::min(end, *next);
    drop(kj::str("table tasks: a damaged page after task ", lastTask, " (", *error,
                 "); looked up ids ", lastTask + 1, " to ", end - 1, " one by one"));
    for (uint64_t id = lastTask + 1; id < end; id++) {
      kj::byte keyBytes[8];
      for (int i = 0; i < 8; i++) keyBytes[i] = id >> (56 - 8 * i);
      MDB_val key{8, keyBytes};
      KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() {
                     KJ_IF_MAYBE (bytes, source.get("tasks", keyBytes)) {
                       MDB_val val{bytes->size(), bytes->begin()};
                       copyTask(key, val);
                       report.records++;
                     }
                   })) {
        drop(kj::str("tasks ", id, ": ", e->getDescription()));
      }
    }
  }
  copyTable(
      "attempts",
      [&](const MDB_val& key, const MDB_val& val) {
        readWhole<records::Attempt>(
            "attempts", key, source.payload("attempts", key, val), [&](records::Attempt::Reader a) {
              KJ_REQUIRE(kept.count(a.getTaskId()) > 0,
                         kj::str(keyText("attempts", key), ": its task was dropped"));
              out.putAttempt(a);
            });
        flush(false);
      },
      [](kj::ArrayPtr<const kj::byte> last) -> kj::Maybe<kj::Array<kj::byte>> {
        // The next task's first attempt.
        if (last.size() != 12) return nullptr;
        uint64_t id = readBE(last.begin(), 8) + 1;
        auto key = kj::heapArray<kj::byte>(12);
        memset(key.begin(), 0, 12);
        for (int i = 0; i < 8; i++) key[i] = id >> (56 - 8 * i);
        return kj::mv(key);
      });
  copyTable(
      "tombstones",
      [&](const MDB_val& key, const MDB_val& val) {
        readWhole<records::Tombstone>("tombstones", key, source.payload("tombstones", key, val),
                                      [&](records::Tombstone::Reader t) {
                                        out.raiseNextId(t.getId() + 1);
                                        out.pruneTask(t.getId(), t);
                                      });
        flush(false);
      },
      noNext);
  copyTable(
      "requests",
      [&](const MDB_val& key, const MDB_val& val) {
        KJ_REQUIRE(key.mv_size > 4, kj::str(keyText("requests", key), ": malformed"));
        auto p = static_cast<const kj::byte*>(key.mv_data);
        auto requestId = kj::heapString(reinterpret_cast<const char*>(p) + 4, key.mv_size - 4);
        readWhole<records::RequestMapping>(
            "requests", key, source.payload("requests", key, val),
            [&](records::RequestMapping::Reader m) { out.putRequest(readBE(p, 4), requestId, m); });
        flush(false);
      },
      noNext);
  copyTable(
      "queues",
      [&](const MDB_val& key, const MDB_val& val) {
        readWhole<records::QueueSettings>(
            "queues", key, source.payload("queues", key, val),
            [&](records::QueueSettings::Reader q) { out.putQueueSettings(q); });
        flush(false);
      },
      noNext);
  copyTable(
      "events",
      [&](const MDB_val& key, const MDB_val& val) {
        readWhole<records::Event>("events", key, source.payload("events", key, val),
                                  [&](records::Event::Reader e) { out.appendEvent(e); });
        flush(false);
      },
      noNext);
  flush(true);
  return report;
}

}  // namespace taskctl
