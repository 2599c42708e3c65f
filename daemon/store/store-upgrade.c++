// The format-version path: a store written by an older taskctld is read,
// verified and rewritten to the current format in the open's one write
// transaction (with the new meta), so a crash leaves either format whole.
#include <kj/debug.h>
#include <lmdb.h>
#include <string.h>

#include "store/store-tables.h"
#include "store/store.h"

namespace taskctl {

using namespace lmdb;

namespace {

// The tables whose values are Cap'n Proto records, and those whose values are
// empty (format 2) or a checksum (format 3 on): index entries. Format 3 and
// older also kept a `ready` index (queued tasks in dispatch order), never
// read: format 4 drops it.
struct TableNames {
  static constexpr const char* RECORDS[] = {"tasks",    "attempts", "tombstones",
                                            "requests", "queues",   "events"};
  static constexpr const char* INDEXES[] = {"active", "finished", "requests-by-age"};
};

}  // namespace

bool lmdb::hasFlatLimits(records::Task::Reader task) {
  return task.getTimeoutUsec() != 0 || task.getKillGraceUsec() != 0 ||
         task.getHeartbeatUsec() != 0 || task.getCpuQuotaPerSecUsec() != 0 ||
         task.getMemoryMaxBytes() != 0 || task.getTasksMax() != 0;
}

void lmdb::moveFlatLimits(records::Task::Builder task) {
  auto limits = task.initLimits();
  limits.setTimeoutUsec(task.getTimeoutUsec());
  limits.setKillGraceUsec(task.getKillGraceUsec());
  limits.setHeartbeatUsec(task.getHeartbeatUsec());
  limits.setCpuQuotaPerSecUsec(task.getCpuQuotaPerSecUsec());
  limits.setMemoryMaxBytes(task.getMemoryMaxBytes());
  limits.setTasksMax(task.getTasksMax());
  task.setTimeoutUsec(0);
  task.setKillGraceUsec(0);
  task.setHeartbeatUsec(0);
  task.setCpuQuotaPerSecUsec(0);
  task.setMemoryMaxBytes(0);
  task.setTasksMax(0);
}

// Format 1 had no `finished` index; formats 1 and 2 no checksums; formats 1
// to 3 kept a task's limits in flat fields and a `ready` index. Every step
// reads the records it rewrites whole first (sealing a damaged one would
// bless it).
void Store::upgradeFormat(MDB_txn* txn, uint32_t version, uint64_t storedNext) {
  KJ_CONTEXT("upgrading the store to the current format", dir, version);
  auto bounds = mapBounds(*this, env);
  auto dbiOf = [&](kj::StringPtr name) -> unsigned {
    if (name == "tasks") return tasksDb;
    if (name == "attempts") return attemptsDb;
    if (name == "tombstones") return tombstonesDb;
    if (name == "requests") return requestsDb;
    if (name == "queues") return queuesDb;
    if (name == "events") return eventsDb;
    if (name == "active") return activeDb;
    if (name == "finished") return finishedDb;
    return requestsByAgeDb;
  };
  auto whole = [](auto reader) -> kj::Maybe<kj::String> { return nullptr; };

  if (version < 3) {
    auto legacyWords = [&](kj::StringPtr table, const MDB_val& key, const MDB_val& val) {
      checkBounds(*this, bounds, table, key, val);
      if (val.mv_size % sizeof(capnp::word) != 0) {
        failCorrupt(kj::str(keyText(table, key), " has a record of ", val.mv_size, " bytes"));
      }
      auto words = kj::heapArray<capnp::word>(val.mv_size / sizeof(capnp::word));
      memcpy(words.begin(), val.mv_data, val.mv_size);
      return words;
    };
    for (kj::StringPtr table : TableNames::RECORDS) {
      walk(*this, txn, dbiOf(table), nullptr, [&](const MDB_val& key, const MDB_val& val) {
        auto words = legacyWords(table, key, val);
        kj::Maybe<kj::String> problem;
        if (table == "tasks")
          problem = decodeProblem<records::Task>(words, whole);
        else if (table == "attempts")
          problem = decodeProblem<records::Attempt>(words, whole);
        else if (table == "tombstones")
          problem = decodeProblem<records::Tombstone>(words, whole);
        else if (table == "requests")
          problem = decodeProblem<records::RequestMapping>(words, whole);
        else if (table == "queues")
          problem = decodeProblem<records::QueueSettings>(words, whole);
        else
          problem = decodeProblem<records::Event>(words, whole);
        KJ_IF_MAYBE (p, problem) failCorrupt(kj::str(keyText(table, key), " ", *p));
        return true;
      });
    }
    for (kj::StringPtr table : TableNames::INDEXES) {
      walk(*this, txn, dbiOf(table), nullptr, [&](const MDB_val& key, const MDB_val& val) {
        checkBounds(*this, bounds, table, key, val);
        if (val.mv_size != 0) failCorrupt(kj::str(keyText(table, key), " has a value"));
        return true;
      });
    }

    // Seal every value where it is (MDB_CURRENT keeps the cursor in place).
    auto reseal = [&](kj::StringPtr table) {
      Cursor cursor(*this, txn, dbiOf(table));
      MDB_val key, val;
      int rc = mdb_cursor_get(cursor.cursor, &key, &val, MDB_FIRST);
      for (; rc == MDB_SUCCESS; rc = mdb_cursor_get(cursor.cursor, &key, &val, MDB_NEXT)) {
        auto keyCopy = kj::heapArray(bytesOf(key));
        auto sealed = sealValue(keyCopy, bytesOf(val));
        MDB_val k = asVal(keyCopy), v = asVal(sealed);
        checkOpen(*this, mdb_cursor_put(cursor.cursor, &k, &v, MDB_CURRENT), "seal a record");
      }
      if (rc != MDB_NOTFOUND) check(*this, rc, "walk");
    };
    for (kj::StringPtr table : TableNames::RECORDS) reseal(table);
    for (kj::StringPtr table : TableNames::INDEXES) reseal(table);
  }

  if (version < 2) {
    // List the terminal tasks format 1 holds, or retention would never see them.
    walk(*this, txn, tasksDb, nullptr, [&](const MDB_val& key, const MDB_val& val) {
      Record<records::Task> record(recordWords(*this, Bounds{}, "tasks", key, val));
      auto task = record.get();
      if (isTerminal(task.getState())) {
        auto entry = finishedKey(task.getFinishedAt(), task.getId());
        putOpen(*this, txn, finishedDb, entry, sealValue(entry, nullptr), "index a finished task");
      }
      return true;
    });
  }

  if (version < 4) {
    // A task's limits move from the flat fields into `limits`. Format 3's
    // tasks are read whole first, from the map (the open verified only the
    // active ones); older ones were, above.
    if (version == 3) {
      walk(*this, txn, tasksDb, nullptr, [&](const MDB_val& key, const MDB_val& val) {
        auto words = recordWords(*this, bounds, "tasks", key, val);
        KJ_IF_MAYBE (p, decodeProblem<records::Task>(words, whole)) {
          failCorrupt(kj::str(keyText("tasks", key), " ", *p));
        }
        return true;
      });
    }
    // Rewritten in place; a rewritten value lies in the transaction's own
    // pages, not the map, hence no bounds (every record was checked above).
    Cursor cursor(*this, txn, tasksDb);
    MDB_val key, val;
    int rc = mdb_cursor_get(cursor.cursor, &key, &val, MDB_FIRST);
    for (; rc == MDB_SUCCESS; rc = mdb_cursor_get(cursor.cursor, &key, &val, MDB_NEXT)) {
      Record<records::Task> record(recordWords(*this, Bounds{}, "tasks", key, val));
      if (!hasFlatLimits(record.get())) continue;  // `limits` unset reads as all 0
      capnp::MallocMessageBuilder message(record.get().totalSize().wordCount + 16);
      message.setRoot(record.get());
      auto task = message.getRoot<records::Task>();  // grown to today's Task: room for limits
      moveFlatLimits(task);
      auto keyCopy = kj::heapArray(bytesOf(key));
      // encode() copies it compact: growing the root left the old struct's words behind.
      auto sealed = sealValue(keyCopy, encode(task.asReader()).asBytes());
      MDB_val k = asVal(keyCopy), v = asVal(sealed);
      checkOpen(*this, mdb_cursor_put(cursor.cursor, &k, &v, MDB_CURRENT), "move a task's limits");
    }
    if (rc != MDB_NOTFOUND) check(*this, rc, "walk");

    MDB_dbi ready;
    rc = mdb_dbi_open(txn, "ready", 0, &ready);
    if (rc != MDB_NOTFOUND) {
      checkOpen(*this, rc, "open table ready");
      checkOpen(*this, mdb_drop(txn, ready, 1), "drop table ready");
    }
  }
  putOpen(*this, txn, metaDb, META_KEY.asBytes(), metaRecord(storedNext, drain), "upgrade meta");
}

}  // namespace taskctl
