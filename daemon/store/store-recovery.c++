// The recovery scan: every active task, read whole and checked, once at the
// start (DESIGN 11: a million queued tasks open in about a second).
#include <kj/debug.h>
#include <lmdb.h>
#include <string.h>

#include "common/errors.h"
#include "store/store-tables.h"
#include "store/store.h"

namespace taskctl {

using namespace lmdb;

namespace {

constexpr uint16_t LAST_TASK_STATE = static_cast<uint16_t>(records::TaskState::PAUSED);

// What makes a decoded record unfit to be active task `id`.
kj::Maybe<kj::String> activeProblem(uint64_t id, records::Task::Reader task) {
  if (task.getId() != id) return kj::str("holds task ", task.getId());
  auto state = static_cast<uint16_t>(task.getState());
  if (state > LAST_TASK_STATE) return kj::str("has state ", state);
  if (isTerminal(task.getState())) return kj::str("is terminal but listed as active");
  return nullptr;
}

}  // namespace

// Recovery reads every active task anyway; reading them here, whole and with
// the daemon's limits, refuses a damaged one before anything is written.
// Finished tasks are left to the reads that need them (and --check-store):
// opening stays O(active), as DESIGN 11 wants.
void Store::verifyActive(MDB_txn* txn, uint32_t version) {
  auto bounds = mapBounds(*this, env);
  walk(*this, txn, activeDb, nullptr, [&](const MDB_val& key, const MDB_val& val) {
    if (key.mv_size != 8) failCorrupt("an active index key is not 8 bytes");
    if (version >= 3) {
      checkIndexEntry(*this, bounds, "active", key, val);
    } else if (val.mv_size != 0) {
      failCorrupt(kj::str(keyText("active", key), " has a value"));
    }
    uint64_t id = readId(static_cast<const kj::byte*>(key.mv_data));
    MDB_val taskKey = key, taskVal;
    int rc = mdb_get(txn, tasksDb, &taskKey, &taskVal);
    if (rc == MDB_NOTFOUND) failCorrupt(kj::str("active task ", id, " has no record"));
    check(*this, rc, kj::str("read active task ", id));
    kj::Array<capnp::word> words;
    if (version >= 3) {
      words = recordWords(*this, bounds, "tasks", taskKey, taskVal);
    } else {
      checkBounds(*this, bounds, "tasks", taskKey, taskVal);
      if (taskVal.mv_size % sizeof(capnp::word) != 0) {
        failCorrupt(kj::str("task ", id, " has a record of ", taskVal.mv_size, " bytes"));
      }
      words = kj::heapArray<capnp::word>(taskVal.mv_size / sizeof(capnp::word));
      memcpy(words.begin(), taskVal.mv_data, taskVal.mv_size);
    }
    verifyActiveRecord(id, words);
    return true;
  });
}

void Store::verifyActiveRecord(uint64_t id, kj::ArrayPtr<const capnp::word> words) {
  KJ_IF_MAYBE (problem, decodeProblem<records::Task>(
                            words, [&](records::Task::Reader task) -> kj::Maybe<kj::String> {
                              return activeProblem(id, task);
                            })) {
    failCorrupt(kj::str("active task ", id, " ", *problem));
  }
}

void Store::forEachActiveTask(kj::FunctionParam<void(records::Task::Reader)> fn) {
  // A million queued tasks open in a second (DESIGN 11): per record, no
  // tree search, no allocation, one decode. The tasks table is walked in
  // step with the active index (both by id): the next active task's record
  // is usually the tasks cursor's next key, else the cursor seeks it.
  ReadTxn txn(*this, env);
  Cursor tasks(*this, txn.txn, tasksDb);
  bool positioned = false;
  kj::Vector<capnp::word> scratch;
  walk(*this, txn.txn, activeDb, nullptr, [&](const MDB_val& key, const MDB_val& val) {
    checkIndexEntry(*this, txn.bounds, "active", key, val);
    MDB_val taskKey, task;
    int rc = MDB_NOTFOUND;
    if (positioned) {
      rc = mdb_cursor_get(tasks.cursor, &taskKey, &task, MDB_NEXT);
      if (rc == MDB_SUCCESS && (taskKey.mv_size != key.mv_size ||
                                memcmp(taskKey.mv_data, key.mv_data, key.mv_size) != 0)) {
        rc = MDB_NOTFOUND;  // not the next one: seek it
      }
      if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) check(*this, rc, "read active task");
    }
    if (rc == MDB_NOTFOUND) {
      taskKey = key;
      rc = mdb_cursor_get(tasks.cursor, &taskKey, &task, MDB_SET_KEY);
      if (rc == MDB_NOTFOUND) {
        failCorrupt(kj::str("the active index lists a missing ", keyText("tasks", key)));
      }
      check(*this, rc, "read active task");
    }
    positioned = true;
    auto words = recordView(*this, txn.bounds, "tasks", taskKey, task, scratch);
    if (!opening) {
      capnp::FlatArrayMessageReader reader(words, STORE_READER_OPTIONS);
      fn(reader.getRoot<records::Task>());
      return true;
    }
    // Recovery at start: read whole with the daemon's limits (see
    // openAndCheck), on the reader that fn then reads.
    uint64_t id = readId(static_cast<const kj::byte*>(key.mv_data));
    bool checked = false;
    kj::Maybe<kj::String> problem;
    KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() {
                   capnp::FlatArrayMessageReader reader(words, STORE_READER_OPTIONS);
                   auto root = reader.getRoot<records::Task>();
                   root.totalSize();  // follows every pointer
                   problem = activeProblem(id, root);
                   if (problem != nullptr) return;
                   checked = true;
                   fn(root);
                 })) {
      if (checked) rethrow(kj::mv(*e));  // fn's, not the record's
      problem = kj::str("does not decode (", e->getDescription(), ")");
    }
    KJ_IF_MAYBE (p, problem) failCorrupt(kj::str("active task ", id, " ", *p));
    return true;
  });
}

}  // namespace taskctl
