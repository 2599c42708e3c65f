// store-locate: where one stored value lies in a taskctl store's data.mdb, so
// that tests/e2e/corrupt-store.sh damages exactly the record it means to.
//   store-locate STORE-DIR TABLE ID [NUMBER]
//     -> "VALUE-OFFSET VALUE-SIZE PAGESIZE KEY-OFFSET"
// (NUMBER: an attempt's number, for the attempts table). The key lies in the
// leaf page that holds the entry; a large value in overflow pages of its own.
// Read-only.
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: store-locate STORE-DIR TABLE ID [NUMBER]\n");
    return 64;
  }
  MDB_env* env;
  if (mdb_env_create(&env) != 0) return 1;
  mdb_env_set_maxdbs(env, 16);
  mdb_env_set_mapsize(env, 1ull << 30);
  int rc = mdb_env_open(env, argv[1], MDB_RDONLY, 0600);
  if (rc != 0) {
    fprintf(stderr, "store-locate: %s: %s\n", argv[1], mdb_strerror(rc));
    return 1;
  }
  MDB_txn* txn;
  MDB_dbi dbi;
  if (mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) != 0 ||
      mdb_dbi_open(txn, argv[2], 0, &dbi) != 0) {
    fprintf(stderr, "store-locate: no table %s\n", argv[2]);
    return 1;
  }
  unsigned char key[12];
  unsigned long long id = strtoull(argv[3], nullptr, 10);
  for (int i = 0; i < 8; i++) key[i] = id >> (56 - 8 * i);
  size_t size = 8;
  if (argc == 5) {
    unsigned number = strtoul(argv[4], nullptr, 10);
    for (int i = 0; i < 4; i++) key[8 + i] = number >> (24 - 8 * i);
    size = 12;
  }
  MDB_val k{size, key}, v;
  MDB_cursor* cursor;
  rc = mdb_cursor_open(txn, dbi, &cursor);
  if (rc == 0) rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_KEY);  // k: the key in its page
  if (rc != 0) {
    fprintf(stderr, "store-locate: %s %s: %s\n", argv[2], argv[3], mdb_strerror(rc));
    return 1;
  }
  // LMDB does not say where it maps the file; a page starts with its own
  // number, and the map is page-aligned.
  MDB_stat stat;
  mdb_env_stat(env, &stat);
  auto offset = [&](const void* p) {
    uintptr_t at = reinterpret_cast<uintptr_t>(p);
    uintptr_t page = at & ~uintptr_t(stat.ms_psize - 1);
    unsigned long long pgno;
    memcpy(&pgno, reinterpret_cast<const void*>(page), sizeof(pgno));
    return pgno * stat.ms_psize + (at - page);
  };
  printf("%llu %zu %u %llu\n", offset(v.mv_data), v.mv_size, stat.ms_psize, offset(k.mv_data));
  mdb_cursor_close(cursor);
  mdb_txn_abort(txn);
  mdb_env_close(env);
  return 0;
}
