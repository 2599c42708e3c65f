// Reads of committed data: one read transaction each, every value's
// checksum verified (a mismatch is corruption: see Store::failCorrupt).
#include <kj/debug.h>
#include <lmdb.h>

#include "store/store-tables.h"
#include "store/store.h"

namespace taskctl {

using namespace lmdb;

kj::Maybe<kj::Array<capnp::word>> Store::get(unsigned dbi, kj::StringPtr table,
                                             kj::ArrayPtr<const kj::byte> keyBytes) {
  ReadTxn txn(*this, env);
  MDB_val key = asVal(keyBytes), val;
  int rc = mdb_get(txn.txn, dbi, &key, &val);
  if (rc == MDB_NOTFOUND) return nullptr;
  check(*this, rc, kj::str("read ", keyText(table, key)));
  return recordWords(*this, txn.bounds, table, key, val, true);
}

kj::Maybe<kj::Own<Record<records::Task>>> Store::getTask(uint64_t id) {
  auto found = get(tasksDb, "tasks", idKey(id));
  KJ_IF_MAYBE (words, found) {
    return kj::heap<Record<records::Task>>(kj::mv(*words));
  }
  return nullptr;
}

kj::Maybe<kj::Own<Record<records::Attempt>>> Store::getAttempt(uint64_t id, uint32_t number) {
  auto found = get(attemptsDb, "attempts", attemptKey(id, number));
  KJ_IF_MAYBE (words, found) {
    return kj::heap<Record<records::Attempt>>(kj::mv(*words));
  }
  return nullptr;
}

void Store::forEachTask(kj::FunctionParam<bool(records::Task::Reader)> fn) {
  ReadTxn txn(*this, env);
  walk(*this, txn.txn, tasksDb, nullptr, [&](const MDB_val& key, const MDB_val& val) {
    Record<records::Task> record(recordWords(*this, txn.bounds, "tasks", key, val));
    return fn(record.get());
  });
}

void Store::forEachTaskNewestFirst(kj::FunctionParam<bool(records::Task::Reader)> fn) {
  ReadTxn txn(*this, env);
  walk(
      *this, txn.txn, tasksDb, nullptr,
      [&](const MDB_val& key, const MDB_val& val) {
        Record<records::Task> record(recordWords(*this, txn.bounds, "tasks", key, val));
        return fn(record.get());
      },
      MDB_LAST, MDB_PREV);
}

void Store::forEachTaskFrom(uint64_t first, kj::FunctionParam<bool(records::Task::Reader)> fn) {
  ReadTxn txn(*this, env);
  auto start = idKey(first);
  walk(*this, txn.txn, tasksDb, start, [&](const MDB_val& key, const MDB_val& val) {
    Record<records::Task> record(recordWords(*this, txn.bounds, "tasks", key, val));
    return fn(record.get());
  });
}

void Store::forEachAttempt(uint64_t id, kj::FunctionParam<void(records::Attempt::Reader)> fn) {
  ReadTxn txn(*this, env);
  walk(*this, txn.txn, attemptsDb, attemptKey(id, 0), [&](const MDB_val& key, const MDB_val& val) {
    if (key.mv_size != 12 || readId(static_cast<const kj::byte*>(key.mv_data)) != id) return false;
    Record<records::Attempt> record(recordWords(*this, txn.bounds, "attempts", key, val));
    fn(record.get());
    return true;
  });
}

void Store::forEachFinished(kj::FunctionParam<bool(int64_t finishedAt, uint64_t id)> fn) {
  ReadTxn txn(*this, env);
  walk(*this, txn.txn, finishedDb, nullptr, [&](const MDB_val& key, const MDB_val& val) {
    checkIndexEntry(*this, txn.bounds, "finished", key, val);
    if (key.mv_size != 16) failCorrupt("a finished index key is not 16 bytes");
    auto bytes = static_cast<const kj::byte*>(key.mv_data);
    return fn(readTime(bytes), readId(bytes + 8));
  });
}

size_t Store::finishedCount() {
  ReadTxn txn(*this, env);
  MDB_stat stat;
  check(*this, mdb_stat(txn.txn, finishedDb, &stat), "stat finished");
  return stat.ms_entries;
}

kj::Maybe<kj::Own<Record<records::Tombstone>>> Store::getTombstone(uint64_t id) {
  KJ_IF_MAYBE (words, get(tombstonesDb, "tombstones", idKey(id))) {
    return kj::heap<Record<records::Tombstone>>(kj::mv(*words));
  }
  return nullptr;
}

void Store::forEachTombstone(kj::FunctionParam<bool(records::Tombstone::Reader)> fn) {
  ReadTxn txn(*this, env);
  walk(*this, txn.txn, tombstonesDb, nullptr, [&](const MDB_val& key, const MDB_val& val) {
    Record<records::Tombstone> record(recordWords(*this, txn.bounds, "tombstones", key, val));
    return fn(record.get());
  });
}

kj::Maybe<kj::Own<Record<records::RequestMapping>>> Store::getRequest(uint32_t uid,
                                                                      kj::StringPtr requestId) {
  KJ_IF_MAYBE (words, get(requestsDb, "requests", requestKey(uid, requestId))) {
    return kj::heap<Record<records::RequestMapping>>(kj::mv(*words));
  }
  return nullptr;
}

void Store::forEachRequestByAge(
    kj::FunctionParam<bool(int64_t createdAt, uint32_t uid, kj::StringPtr requestId)> fn) {
  ReadTxn txn(*this, env);
  walk(*this, txn.txn, requestsByAgeDb, nullptr, [&](const MDB_val& key, const MDB_val& val) {
    checkIndexEntry(*this, txn.bounds, "requests-by-age", key, val);
    if (key.mv_size < 12) failCorrupt("a requests-by-age key is shorter than 12 bytes");
    auto bytes = static_cast<const kj::byte*>(key.mv_data);
    // LMDB's bytes carry no NUL; the copy gives fn a proper StringPtr.
    auto requestId = kj::heapString(reinterpret_cast<const char*>(bytes) + 12, key.mv_size - 12);
    return fn(readTime(bytes), readUid(bytes + 8), requestId);
  });
}

void Store::forEachQueueSettings(kj::FunctionParam<void(records::QueueSettings::Reader)> fn) {
  ReadTxn txn(*this, env);
  walk(*this, txn.txn, queuesDb, nullptr, [&](const MDB_val& key, const MDB_val& val) {
    Record<records::QueueSettings> record(recordWords(*this, txn.bounds, "queues", key, val));
    fn(record.get());
    return true;
  });
}

// ---- The event log: seq (8 bytes, big-endian) -> records::Event ----

uint64_t Store::firstEventSeq() {
  ReadTxn txn(*this, env);
  uint64_t seq = 0;
  walk(*this, txn.txn, eventsDb, nullptr, [&](const MDB_val& key, const MDB_val& val) {
    checkBounds(*this, txn.bounds, "events", key, val);
    if (key.mv_size != 8) failCorrupt("an event key is not 8 bytes");
    seq = readId(static_cast<const kj::byte*>(key.mv_data));
    return false;
  });
  return seq;
}

uint64_t Store::lastEventSeq() {
  ReadTxn txn(*this, env);
  Cursor cursor(*this, txn.txn, eventsDb);
  MDB_val key, val;
  int rc = mdb_cursor_get(cursor.cursor, &key, &val, MDB_LAST);
  if (rc == MDB_NOTFOUND) return 0;
  check(*this, rc, "last event");
  checkBounds(*this, txn.bounds, "events", key, val);
  if (key.mv_size != 8) failCorrupt("an event key is not 8 bytes");
  return readId(static_cast<const kj::byte*>(key.mv_data));
}

void Store::forEachEventFrom(uint64_t seq, kj::FunctionParam<bool(records::Event::Reader)> fn) {
  ReadTxn txn(*this, env);
  walk(*this, txn.txn, eventsDb, idKey(seq), [&](const MDB_val& key, const MDB_val& val) {
    Record<records::Event> record(recordWords(*this, txn.bounds, "events", key, val));
    return fn(record.get());
  });
}

}  // namespace taskctl
