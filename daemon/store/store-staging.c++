// Staged writes and the commit: every change of a loop turn reaches the disk
// in one write transaction (GroupCommit calls commit()).
#include <kj/debug.h>
#include <lmdb.h>

#include "store/store-tables.h"
#include "store/store.h"

namespace taskctl {

using namespace lmdb;

uint64_t Store::allocateId() { return nextId++; }

void Store::stage(unsigned dbi, kj::Array<kj::byte> key, kj::Maybe<kj::Array<capnp::word>> value,
                  bool droppable) {
  // Read-only after corruption: the daemon's own bookkeeping goes on in
  // memory, but nothing more reaches the file (requests that change state are
  // refused before they get here, see requireWritable()).
  if (corrupted != nullptr) return;
  kj::Maybe<kj::Array<kj::byte>> sealed;
  KJ_IF_MAYBE (words, value) sealed = sealValue(key, words->asBytes());
  ops.add(Op{dbi, kj::mv(key), kj::mv(sealed), droppable});
}

void Store::putTask(records::Task::Reader task, bool droppable) {
  auto id = task.getId();
  KJ_ASSERT(id != 0 && id < nextId, "task id was not allocated by this store", id);
  stage(tasksDb, idKey(id), encode(task), droppable);
  // The indexes follow the state, so they can never disagree with the record.
  auto state = task.getState();
  if (isTerminal(state)) {
    stage(activeDb, idKey(id), nullptr, droppable);
    // A terminal task stays terminal with the same finishedAt, so a second put
    // rewrites the same key; no delete is ever needed for a non-terminal one.
    stage(finishedDb, finishedKey(task.getFinishedAt(), id), kj::heapArray<capnp::word>(0),
          droppable);
  } else {
    stage(activeDb, idKey(id), kj::heapArray<capnp::word>(0), droppable);
  }
}

void Store::putAttempt(records::Attempt::Reader attempt, bool droppable) {
  stage(attemptsDb, attemptKey(attempt.getTaskId(), attempt.getNumber()), encode(attempt),
        droppable);
}

void Store::pruneTask(uint64_t id, records::Tombstone::Reader tombstone) {
  KJ_ASSERT(tombstone.getId() == id, "tombstone is for another task", id, tombstone.getId());
  stage(tasksDb, idKey(id), nullptr, false);
  // Delete the attempt keys the store holds rather than 1..task.attempts: a
  // counter that ran ahead of or behind its records then leaves nothing behind.
  {
    ReadTxn txn(*this, env);
    walk(*this, txn.txn, attemptsDb, attemptKey(id, 0), [&](const MDB_val& key, const MDB_val&) {
      auto bytes = static_cast<const kj::byte*>(key.mv_data);
      if (key.mv_size != 12 || readId(bytes) != id) return false;
      stage(attemptsDb, kj::heapArray<kj::byte>(bytes, key.mv_size), nullptr, false);
      return true;
    });
  }
  // The tombstone copies the task's finishedAt, which is what keyed its entry.
  stage(finishedDb, finishedKey(tombstone.getFinishedAt(), id), nullptr, false);
  // A terminal task has no active entry; deleting one anyway costs nothing and
  // keeps a record that disagreed with its index from leaving a dangling key.
  stage(activeDb, idKey(id), nullptr, false);
  stage(tombstonesDb, idKey(id), encode(tombstone), false);
}

void Store::deleteTombstone(uint64_t id) { stage(tombstonesDb, idKey(id), nullptr, false); }

void Store::putRequest(uint32_t uid, kj::StringPtr requestId,
                       records::RequestMapping::Reader mapping, bool droppable) {
  // An oversized key would fail the whole commit, and with it every batch after.
  size_t maxKey = mdb_env_get_maxkeysize(env);
  KJ_REQUIRE(12 + requestId.size() <= maxKey,
             kj::str("a request id may be at most ", maxKey - 12, " bytes long"));
  auto createdAt = mapping.getCreatedAt();
  stage(requestsDb, requestKey(uid, requestId), encode(mapping), droppable);
  stage(requestsByAgeDb, requestAgeKey(createdAt, uid, requestId), kj::heapArray<capnp::word>(0),
        droppable);
}

void Store::deleteRequest(uint32_t uid, kj::StringPtr requestId, int64_t createdAt) {
  stage(requestsDb, requestKey(uid, requestId), nullptr, false);
  stage(requestsByAgeDb, requestAgeKey(createdAt, uid, requestId), nullptr, false);
}

void Store::putQueueSettings(records::QueueSettings::Reader settings) {
  auto name = settings.getName();
  // LMDB keys hold 1 to maxkeysize bytes; anything else would fail the commit.
  size_t maxKey = mdb_env_get_maxkeysize(env);
  KJ_REQUIRE(name.size() > 0 && name.size() <= maxKey,
             kj::str("a queue name must be 1 to ", maxKey, " bytes long"));
  stage(queuesDb, kj::heapArray(name.asBytes()), encode(settings), false);
}

void Store::deleteQueueSettings(kj::StringPtr name) {
  if (name.size() == 0) return;  // never stored, and LMDB refuses an empty key
  stage(queuesDb, kj::heapArray(name.asBytes()), nullptr, false);
}

void Store::dropDroppable() {
  kj::Vector<Op> kept;
  for (auto& op : ops) {
    if (!op.droppable) kept.add(kj::mv(op));
  }
  ops = kj::mv(kept);
}

bool Store::tryCommit() {
  MDB_txn* txn;
  check(*this, mdb_txn_begin(env, nullptr, 0, &txn), "begin write");
  bool done = false;
  KJ_DEFER(if (!done) mdb_txn_abort(txn));
  auto put = [&](unsigned dbi, MDB_val& key, MDB_val& val) {
    int rc = mdb_put(txn, dbi, &key, &val, 0);
    if (rc == MDB_MAP_FULL) return false;
    check(*this, rc, "write");
    return true;
  };
  for (auto& op : ops) {
    MDB_val key = asVal(op.key);
    KJ_IF_MAYBE (value, op.value) {
      MDB_val val = asVal(*value);
      if (!put(op.dbi, key, val)) return false;
    } else {
      int rc = mdb_del(txn, op.dbi, &key, nullptr);
      if (rc != MDB_NOTFOUND) check(*this, rc, "delete");
    }
  }
  if (nextId != committedNextId || drainStaged) {
    auto words = metaRecord(nextId, drain);
    MDB_val key = asVal(META_KEY.asBytes());
    MDB_val val = asVal(words);
    if (!put(metaDb, key, val)) return false;
  }
  done = true;
  int rc = mdb_txn_commit(txn);
  if (rc == MDB_MAP_FULL) return false;
  check(*this, rc, "commit");
  return true;
}

void Store::commit() {
  if (corrupted != nullptr) {
    // Whatever was staged before the corruption was found stays off the file;
    // a submit among it is refused (GroupCommit), never acked.
    ops.clear();
    committedNextId = nextId;
    drain = committedDrain;
    drainStaged = false;
    requireWritable();
  }
  if (ops.empty() && nextId == committedNextId && !drainStaged) return;
  while (!tryCommit()) {
    // MDB_MAP_FULL poisoned the transaction: it was aborted; grow and redo it all.
    growMap();
  }
  ops.clear();
  committedNextId = nextId;
  committedDrain = drain;
  drainStaged = false;
  commits++;
}

void Store::appendEvent(records::Event::Reader event, bool droppable) {
  stage(eventsDb, idKey(event.getSeq()), encode(event), droppable);
}

void Store::deleteEventsBefore(uint64_t seq, size_t limit) {
  kj::Vector<uint64_t> doomed;
  {
    ReadTxn txn(*this, env);
    walk(*this, txn.txn, eventsDb, nullptr, [&](const MDB_val& key, const MDB_val& val) {
      checkBounds(*this, txn.bounds, "events", key, val);
      if (key.mv_size != 8) failCorrupt("an event key is not 8 bytes");
      uint64_t s = readId(static_cast<const kj::byte*>(key.mv_data));
      if (s >= seq || doomed.size() >= limit) return false;
      doomed.add(s);
      return true;
    });
  }
  for (auto s : doomed) stage(eventsDb, idKey(s), nullptr, false);
}

}  // namespace taskctl
