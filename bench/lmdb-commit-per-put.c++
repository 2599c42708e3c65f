// bench-lmdb-commit-per-put: what group commit must beat, measured on the disk the daemon uses.
//
// Two runs over fresh LMDB environments under --dir, with the daemon's open flags (MDB_NOTLS,
// default durability: never MDB_NOSYNC, MDB_MAPASYNC or MDB_WRITEMAP, DESIGN 9):
//   commit-per-put  N puts of a 336-byte record (what taskctld stores for the submit bench's
//                   `true`), one write transaction + commit each: a store without group
//                   commit, i.e. one durable commit per submit.
//   batch           the same N puts, --batch of them per transaction: the ceiling a group
//                   commit of that size can reach on this disk (no RPC, no encoding).
// Keys are 8-byte big-endian increasing ids, as the store's task keys are, so both append.

#include <errno.h>
#include <kj/array.h>
#include <kj/debug.h>
#include <kj/main.h>
#include <kj/string.h>
#include <kj/time.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

namespace taskctl {
namespace {

// The one checker for LMDB codes here.
void check(int rc, kj::StringPtr what) { KJ_REQUIRE(rc == MDB_SUCCESS, what, mdb_strerror(rc)); }

struct Result {
  size_t puts;
  size_t commits;
  double seconds;
  kj::Array<int64_t> commitNs;  // sorted: begin .. commit of each transaction
};

class LmdbBench {
 public:
  explicit LmdbBench(kj::ProcessContext& context) : context(context) {}

  kj::MainFunc getMain() {
    return kj::MainBuilder(context, "taskctl bench",
                           "Puts N records into LMDB with one durable commit per put, then "
                           "with --batch puts per commit, and reports puts/s for each.")
        .addOptionWithArg({'d', "dir"}, KJ_BIND_METHOD(*this, setDir), "<dir>",
                          "parent directory for the environments (required; put it on the "
                          "daemon's disk); they are removed afterwards")
        .addOptionWithArg({'n', "count"}, KJ_BIND_METHOD(*this, setCount), "<n>",
                          "puts per run (default 20000)")
        .addOptionWithArg({"batch"}, KJ_BIND_METHOD(*this, setBatch), "<n>",
                          "puts per transaction in the batch run (default 100)")
        .addOptionWithArg({"record-bytes"}, KJ_BIND_METHOD(*this, setRecordBytes), "<n>",
                          "value size (default 336: a task record as bench-submit-throughput "
                          "stores it)")
        .callAfterParsing(KJ_BIND_METHOD(*this, run))
        .build();
  }

 private:
  kj::ProcessContext& context;
  kj::String dir;
  size_t count = 20000;
  size_t batch = 100;
  size_t recordBytes = 336;

  static kj::Maybe<size_t> parseCount(kj::StringPtr text) {
    char* end;
    unsigned long long value = strtoull(text.cStr(), &end, 10);
    if (text.size() == 0 || *end != '\0' || value == 0) return nullptr;
    return static_cast<size_t>(value);
  }

  kj::MainBuilder::Validity setDir(kj::StringPtr path) {
    dir = kj::str(path);
    return true;
  }
  kj::MainBuilder::Validity setCount(kj::StringPtr text) {
    KJ_IF_MAYBE (n, parseCount(text)) {
      count = *n;
      return true;
    }
    return "expected a positive integer";
  }
  kj::MainBuilder::Validity setBatch(kj::StringPtr text) {
    KJ_IF_MAYBE (n, parseCount(text)) {
      batch = *n;
      return true;
    }
    return "expected a positive integer";
  }
  kj::MainBuilder::Validity setRecordBytes(kj::StringPtr text) {
    KJ_IF_MAYBE (n, parseCount(text)) {
      recordBytes = *n;
      return true;
    }
    return "expected a positive integer";
  }

  // N puts into a fresh environment at `path`, `perTxn` per write transaction. The environment
  // is removed afterwards so runs do not see each other's pages.
  Result measure(kj::StringPtr path, size_t perTxn) {
    KJ_SYSCALL(mkdir(path.cStr(), 0700), path);
    auto data = kj::str(path, "/data.mdb");
    auto lock = kj::str(path, "/lock.mdb");
    KJ_DEFER({
      unlink(data.cStr());
      unlink(lock.cStr());
      rmdir(path.cStr());
    });

    MDB_env* env;
    check(mdb_env_create(&env), "create environment");
    KJ_DEFER(mdb_env_close(env));
    // Room for every record several times over; the store starts at 256 MiB too.
    check(mdb_env_set_mapsize(env, 256ull << 20), "set map size");
    check(mdb_env_open(env, path.cStr(), MDB_NOTLS, 0600), "open environment");
    MDB_dbi dbi;
    {
      MDB_txn* txn;
      check(mdb_txn_begin(env, nullptr, 0, &txn), "begin");
      check(mdb_dbi_open(txn, nullptr, 0, &dbi), "open table");
      check(mdb_txn_commit(txn), "commit");
    }

    // Varied bytes, so nothing downstream (the disk, a compressing filesystem) gets an easy case.
    auto value = kj::heapArray<kj::byte>(recordBytes);
    for (auto i : kj::indices(value)) value[i] = static_cast<kj::byte>(i * 131 + 7);

    size_t commits = (count + perTxn - 1) / perTxn;
    auto commitNs = kj::heapArray<int64_t>(commits);
    auto& clock = kj::systemPreciseMonotonicClock();
    kj::TimePoint start = clock.now();
    uint64_t id = 0;
    for (size_t c = 0; c < commits; c++) {
      kj::TimePoint begun = clock.now();
      MDB_txn* txn;
      check(mdb_txn_begin(env, nullptr, 0, &txn), "begin write");
      size_t puts = kj::min(perTxn, count - c * perTxn);
      for (size_t p = 0; p < puts; p++) {
        ++id;
        kj::byte keyBytes[8];
        for (int i = 0; i < 8; i++) keyBytes[i] = id >> (56 - 8 * i);
        memcpy(value.begin(), &id, sizeof(id));
        MDB_val key{sizeof(keyBytes), keyBytes};
        MDB_val val{value.size(), value.begin()};
        int rc = mdb_put(txn, dbi, &key, &val, 0);
        if (rc != MDB_SUCCESS) mdb_txn_abort(txn);
        check(rc, "put");
      }
      check(mdb_txn_commit(txn), "commit");
      commitNs[c] = (clock.now() - begun) / kj::NANOSECONDS;
    }
    double seconds = (clock.now() - start) / kj::NANOSECONDS / 1e9;
    std::sort(commitNs.begin(), commitNs.end());
    return Result{count, commits, seconds, kj::mv(commitNs)};
  }

  static int64_t percentile(kj::ArrayPtr<const int64_t> sorted, double p) {
    return sorted[static_cast<size_t>(p * (sorted.size() - 1) + 0.5)];
  }

  void report(kj::StringPtr name, size_t perTxn, const Result& r) {
    double perSecond = r.puts / r.seconds;
    printf(
        "%-15s %zu puts, %zu per commit, %zu commits: %.3f s, %.0f puts/s; "
        "commit p50 %.0f us, p99 %.0f us\n",
        name.cStr(), r.puts, perTxn, r.commits, r.seconds, perSecond,
        percentile(r.commitNs, 0.50) / 1e3, percentile(r.commitNs, 0.99) / 1e3);
    // One line for scripts.
    printf(
        "RESULT %s count=%zu per_txn=%zu seconds=%.6f per_sec=%.0f commit_p50_us=%.0f "
        "commit_p99_us=%.0f\n",
        name.cStr(), r.puts, perTxn, r.seconds, perSecond, percentile(r.commitNs, 0.50) / 1e3,
        percentile(r.commitNs, 0.99) / 1e3);
    fflush(stdout);
  }

  kj::MainBuilder::Validity run() {
    if (dir == nullptr) return "--dir is required";
    // A name of our own under --dir, so two runs side by side cannot collide.
    auto base = kj::str(dir, "/lmdb-bench.", getpid());
    KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() {
                   auto perPut = measure(kj::str(base, ".per-put"), 1);
                   report("commit-per-put", 1, perPut);
                   auto batched = measure(kj::str(base, ".batch"), batch);
                   report("batch", batch, batched);
                 })) {
      context.exitError(kj::str("bench-lmdb-commit-per-put: ", e->getDescription()));
    }
    return true;
  }
};

}  // namespace
}  // namespace taskctl

KJ_MAIN(taskctl::LmdbBench)
