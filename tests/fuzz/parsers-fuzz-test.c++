// Every parser of input a user or a task controls, fed mutated input: it must
// answer with a value or with its own clear refusal, never crash, never let a
// foreign exception escape, never break its own promises about the value.
// Deterministic (fixed seeds), bounded, part of `ctest -L unit`.
//
// GCC 12 sees kj::Maybe<NotifyMessage>'s storage as maybe uninitialized when
// it is destroyed: a known false positive of -Wmaybe-uninitialized with kj's
// NullableValue (as in bus/systemd-manager.c++).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <gtest/gtest.h>
#include <kj/debug.h>
#include <kj/one-of.h>
#include <kj/string.h>
#include <stdlib.h>

#include <cmath>
#include <string>
#include <vector>

#include "args.h"
#include "config/config.h"
#include "mutator.h"
#include "notify/notify-socket.h"
#include "time-spec.h"

namespace taskctl {
namespace {

// TASKCTL_FUZZ_ROUNDS=N (and TASKCTL_FUZZ_SEED=S) for a longer or other run by hand.
const int ROUNDS = getenv("TASKCTL_FUZZ_ROUNDS") ? atoi(getenv("TASKCTL_FUZZ_ROUNDS")) : 100000;
const uint64_t SEED =
    getenv("TASKCTL_FUZZ_SEED") ? strtoull(getenv("TASKCTL_FUZZ_SEED"), nullptr, 10) : 0;

// Both outcomes must occur often, or the mutations miss the parser's depths
// (all refused at the first byte) or never reach its refusals.
void expectBothOutcomes(int accepted, int refused, int rounds) {
  EXPECT_GT(accepted, rounds / 100) << "accepted " << accepted << " of " << rounds;
  EXPECT_GT(refused, rounds / 100) << "refused " << refused << " of " << rounds;
}

TEST(Fuzz, NotifyDatagrams) {
  // What a task writes to NOTIFY_SOCKET: the daemon parses it on its loop.
  fuzz::Mutator inputs(
      {"WATCHDOG=1\n", "STATUS=half way\nX_TASKCTL_PROGRESS=0.5\n",
       "READY=1\nSTATUS=x\nMAINPID=42\nWATCHDOG=1\nX_TASKCTL_PROGRESS=1\n", "BARRIER=1\n",
       std::string("STATUS=a\0WATCHDOG=1", 19), "X_TASKCTL_PROGRESS=0.0001", "WATCHDOG=trigger\n",
       "EXTEND_TIMEOUT_USEC=2500000\n", "X_TASKCTL_PROGRESS=40%"},
      {"WATCHDOG=", "STATUS=", "X_TASKCTL_PROGRESS=", "EXTEND_TIMEOUT_USEC=", "trigger", "1", "0.",
       "1e9", "nan", "inf", "-0", "%", "\n", "=", "\xc3\xa9", "\xed\xa0\x80", "\x1b"},
      SEED + 1);
  // Every datagram gives a message (its arrival is a heartbeat); what is
  // counted is whether it carried a progress the daemon took.
  int withProgress = 0;
  for (int i = 0; i < ROUNDS; i++) {
    std::string datagram = inputs.next();
    auto message = parseNotify(kj::ArrayPtr<const char>(datagram.data(), datagram.size()));
    KJ_IF_MAYBE (p, message.progress) {
      withProgress++;
      ASSERT_TRUE(*p >= 0 && *p <= 1 && !std::isnan(*p)) << "progress " << *p;
      ASSERT_TRUE(message.malformedProgress == nullptr);
    }
    KJ_IF_MAYBE (s, message.status) {
      ASSERT_EQ(strlen(s->cStr()), s->size()) << "a NUL inside a status";
    }
    KJ_IF_MAYBE (bad, message.malformedProgress) {
      // Fit for one log line: printable, short.
      ASSERT_LE(bad->size(), 67u);
      for (char c : *bad) ASSERT_TRUE(c >= 0x20 && c <= 0x7e) << "unprintable in the log";
    }
  }
  expectBothOutcomes(withProgress, ROUNDS - withProgress, ROUNDS);
}

TEST(Fuzz, ConfigFiles) {
  // taskctld.toml: an invalid file is refused with "source:line:column: what",
  // at start and on every SIGHUP.
  fuzz::Mutator inputs(
      {"[daemon]\nrunner = \"scope\"\nbus = \"system\"\n",
       "[queues.default]\nconcurrency = 4\ntimeout = \"10m\"\nmemory = \"512M\"\ncpu = \"50%\"\n",
       "[queues.batch]\nconcurrency = 1\npause_on_failure = true\nkill_grace = \"5s\"\n",
       "[retention]\nmax_age = \"30d\"\nmax_tasks = 10000\ntombstone_age = \"30d\"\n",
       "[access]\nadmin_group = \"adm\"\nsubmit_group = \"users\"\n",
       "[logs]\nmax_bytes = \"64M\"\n[events]\nmax_stored = 100000\n"},
      {"[",           "]",       "[[queues]]", "[queues.", "= ",      "\"",
       "'''",         "\"\"\"",  "1_000",      "0x10",     "-1",      "9223372036854775808",
       "1e400",       "inf",     "true",       "{",        "}",       "\n",
       "concurrency", "timeout", "memory",     "cpu",      "max_age", "tasks_max",
       "heartbeat",   "500%",    "10Q",        "0s"},
      SEED + 2, 2);
  int rounds = ROUNDS / 5, refused = 0;
  for (int i = 0; i < rounds; i++) {
    std::string text = inputs.next();
    KJ_IF_MAYBE (e, kj::runCatchingExceptions([&]() {
                   auto config = parseConfig(kj::StringPtr(text.c_str()), "fuzz.toml");
                   ASSERT_TRUE(config.findQueue("default") != nullptr) << text;
                 })) {
      refused++;
      ASSERT_TRUE(e->getDescription().startsWith("fuzz.toml")) << e->getDescription().cStr();
    }
  }
  expectBothOutcomes(rounds - refused, refused, rounds);
}

TEST(Fuzz, TimeSpecs) {
  // `submit --at`: a time, or a refusal that reads after "--at ".
  fuzz::Mutator inputs({"2026-12-01T03:00", "2026-12-01T03:00:05Z", "2026-03-29T02:30+01:00",
                        "2026-10-25 02:30", "2026-12-01T03:00-0530", "23:59"},
                       {"T", "Z", "+", "-", ":", "99", "00", "2026-", "1970-01-01", ".5", " "},
                       SEED + 3, 2);
  int refused = 0;
  for (int i = 0; i < ROUNDS; i++) {
    std::string text = inputs.next();
    auto result = parseTimeSpec(kj::StringPtr(text.c_str()));
    if (result.is<kj::String>()) {
      refused++;
      ASSERT_GT(result.get<kj::String>().size(), 0u) << "an empty refusal for '" << text << "'";
    }
  }
  expectBothOutcomes(ROUNDS - refused, refused, ROUNDS);
}

TEST(Fuzz, CommandLines) {
  // taskctl's own command line: a command, or a UsageError that says why.
  fuzz::Mutator inputs(
      {"submit\x1f--timeout\x1f"
       "10m\x1f--\x1ftrue",
       "list\x1f--label\x1fkind=x\x1f--limit\x1f"
       "3",
       "submit\x1f--after\x1f"
       "5:ok\x1f--retries\x1f"
       "3\x1f--retry-on\x1f"
       "exit:75,timeout\x1f--\x1fx",
       "watch\x1f--from\x1f"
       "7\x1f"
       "1\x1f"
       "2",
       "queue\x1fset\x1f"
       "batch\x1f--concurrency\x1f"
       "2",
       "schedule\x1f"
       "add\x1ftick\x1f--on-calendar\x1fhourly\x1f--\x1ftrue",
       "logs\x1f-f\x1f--attempt\x1f"
       "2\x1f"
       "9",
       "submit\x1f--at\x1f"
       "2026-12-01T03:00\x1f--\x1fx"},
      {"\x1f", "--", "=", "--json", "--socket", "--memory", "--cpu", "--in", "--key",
       "--on-conflict", "replace", "--request-id", "-1", "18446744073709551616", "%", ":any"},
      SEED + 4);
  int refused = 0;
  for (int i = 0; i < ROUNDS; i++) {
    std::string line = inputs.next();
    // \x1f separates the arguments: argv entries can hold any other byte.
    std::vector<std::string> parts;
    size_t start = 0;
    for (size_t at; (at = line.find('\x1f', start)) != std::string::npos; start = at + 1) {
      parts.push_back(line.substr(start, at - start));
    }
    parts.push_back(line.substr(start));
    std::vector<kj::StringPtr> argv;
    for (auto& p : parts) argv.push_back(kj::StringPtr(p.c_str()));
    auto result = parseArgs(kj::ArrayPtr<const kj::StringPtr>(argv.data(), argv.size()));
    if (result.is<UsageError>()) {
      refused++;
      ASSERT_GT(result.get<UsageError>().message.size(), 0u) << "an empty refusal";
    }
  }
  expectBothOutcomes(ROUNDS - refused, refused, ROUNDS);
}

}  // namespace
}  // namespace taskctl
