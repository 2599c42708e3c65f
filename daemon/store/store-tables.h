// How the store's tables hold their values, shared by the store's own files
// (not a header for its callers: they include store.h). Keys are big-endian
// so that LMDB's byte order is the numbers' order; every value is sealed with
// the CRC32C of its key and payload (see sealValue in store.h); one checker
// turns LMDB's return codes into the errors a person reads.
#pragma once

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/array.h>
#include <kj/exception.h>
#include <kj/function.h>
#include <kj/string.h>
#include <kj/vector.h>
#include <lmdb.h>
#include <string.h>

#include "store/store.h"

namespace taskctl::lmdb {

// LMDB return codes that mean the file is damaged, not that we erred.
bool isCorruption(int rc);

void check(Store& store, int rc, kj::StringPtr what);
// The one checker for LMDB return codes (STYLE: foreign errors stop here):
// corruption goes to store.failCorrupt; a full map or disk is OVERLOADED;
// anything else FAILED, naming the store and `what`.

// ---- Keys ----

kj::Array<kj::byte> idKey(uint64_t id);  // tasks, active, tombstones, events
uint64_t readId(const kj::byte* p);
int64_t readTime(const kj::byte* p);
uint32_t readUid(const kj::byte* p);
kj::Array<kj::byte> finishedKey(int64_t finishedAt, uint64_t id);
kj::Array<kj::byte> requestKey(uint32_t uid, kj::StringPtr requestId);
kj::Array<kj::byte> requestAgeKey(int64_t createdAt, uint32_t uid, kj::StringPtr requestId);
kj::Array<kj::byte> attemptKey(uint64_t id, uint32_t number);

constexpr kj::StringPtr META_KEY = "meta"_kj;
kj::Array<kj::byte> metaRecord(uint64_t nextId, const DrainState& drain = {});
// The sealed meta of the current format with this counter.

// ---- Values ----

template <typename Reader>
kj::Array<capnp::word> encode(Reader reader) {
  capnp::MallocMessageBuilder message(reader.totalSize().wordCount + 1);
  message.setRoot(reader);
  return capnp::messageToFlatArray(message);
}

inline MDB_val asVal(kj::ArrayPtr<const kj::byte> bytes) {
  return MDB_val{bytes.size(), const_cast<kj::byte*>(bytes.begin())};
}

inline kj::ArrayPtr<const kj::byte> bytesOf(const MDB_val& val) {
  return kj::arrayPtr(static_cast<const kj::byte*>(val.mv_data), val.mv_size);
}

kj::String keyText(kj::StringPtr table, const MDB_val& key);
// How a key reads in a message about it: an id where the table is keyed by
// one, else the first bytes in hex.

// Where a read transaction's data may lie: the mapped pages the file holds.
// A damaged node can claim a size or an overflow page that reaches past
// them; copying that would fault, so it is corruption instead.
struct Bounds {
  const kj::byte* begin = nullptr;
  const kj::byte* end = nullptr;
};

Bounds mapBounds(Store& store, MDB_env* env);

void checkBounds(Store& store, const Bounds& bounds, kj::StringPtr table, const MDB_val& key,
                 const MDB_val& val, bool ownKey = false);
// `key` is LMDB's (from a cursor) unless `ownKey`: mdb_get leaves ours.

kj::Array<capnp::word> recordWords(Store& store, const Bounds& bounds, kj::StringPtr table,
                                   const MDB_val& key, const MDB_val& val, bool ownKey = false);
// A sealed record: checksum verified, then copied word-aligned.

kj::ArrayPtr<const capnp::word> recordView(Store& store, const Bounds& bounds, kj::StringPtr table,
                                           const MDB_val& key, const MDB_val& val,
                                           kj::Vector<capnp::word>& scratch);
// A sealed record, checksum verified on LMDB's bytes, as words: in place
// where they are word-aligned (a record of overflow pages, over ~2 KiB),
// else copied into `scratch`, reused from record to record. Valid while the
// transaction lasts and `scratch` is not reused.

void checkIndexEntry(Store& store, const Bounds& bounds, kj::StringPtr table, const MDB_val& key,
                     const MDB_val& val);
// A sealed index entry: the value is the key's checksum alone.

// Decodes a whole record with the daemon's limits: totalSize() follows every
// pointer, so a record that passes holds nothing a later read could trip on.
template <typename T>
kj::Maybe<kj::String> decodeProblem(
    kj::ArrayPtr<const capnp::word> words,
    kj::FunctionParam<kj::Maybe<kj::String>(typename T::Reader)> consistent) {
  kj::Maybe<kj::String> problem;
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() {
                 capnp::FlatArrayMessageReader reader(words, STORE_READER_OPTIONS);
                 auto root = reader.getRoot<T>();
                 root.totalSize();
                 problem = consistent(root);
               })) {
    return kj::str("does not decode (", e->getDescription(), ")");
  }
  return problem;
}

// ---- Format 4: a task's limits ----

bool hasFlatLimits(records::Task::Reader task);
// Whether a task of format 3 or older has any limit in its flat fields
// (19-24), which format 4 keeps in `limits`.
void moveFlatLimits(records::Task::Builder task);
// Sets `limits` from the flat fields, then zeroes them (the upgrade, and a
// salvage from an older store).

// ---- Transactions and cursors ----

// A read transaction that ends with its scope.
struct ReadTxn {
  MDB_txn* txn = nullptr;
  Bounds bounds;
  ReadTxn(Store& store, MDB_env* env) {
    check(store, mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn), "begin read");
    bounds = mapBounds(store, env);
  }
  ~ReadTxn() { mdb_txn_abort(txn); }
  KJ_DISALLOW_COPY(ReadTxn);
};

struct Cursor {
  MDB_cursor* cursor = nullptr;
  Cursor(Store& store, MDB_txn* txn, MDB_dbi dbi) {
    check(store, mdb_cursor_open(txn, dbi, &cursor), "open cursor");
  }
  ~Cursor() { mdb_cursor_close(cursor); }
  KJ_DISALLOW_COPY(Cursor);
};

void walk(Store& store, MDB_txn* txn, MDB_dbi dbi, kj::ArrayPtr<const kj::byte> start,
          kj::FunctionParam<bool(const MDB_val& key, const MDB_val& val)> fn,
          MDB_cursor_op first = MDB_FIRST, MDB_cursor_op next = MDB_NEXT);
// Walks `dbi` in key order from the first key at or after `start` (from the
// first key when `start` is empty) until fn returns false.

// ---- Writes while opening ----

// Opening writes (new tables, a new store's meta, a format upgrade), and a
// map that an earlier run filled may have no room for that. Thrown only while
// opening, caught by the constructor, which grows the map and opens again.
struct MapFull {};

void checkOpen(Store& store, int rc, kj::StringPtr what);  // check(), MapFull on a full map
void putOpen(Store& store, MDB_txn* txn, MDB_dbi dbi, kj::ArrayPtr<const kj::byte> keyBytes,
             kj::ArrayPtr<const kj::byte> valBytes, kj::StringPtr what);
void commitOpen(Store& store, MDB_txn*& txn, kj::StringPtr what);
// LMDB frees a transaction whether or not its commit succeeds: forgets it first.

}  // namespace taskctl::lmdb
