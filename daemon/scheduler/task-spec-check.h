// The check of a task spec (schema/task-spec.capnp) before the scheduler
// takes it: its fields against the contract constants, its limits resolved
// against its queue's defaults, the environment variables a task may not
// carry in, and the retry default. Pure: no store, no clock, no scheduler
// state, so a submit and a schedule's `add` refuse the same things, and the
// tests need nothing but a message.
#pragma once

#include <capnp/orphan.h>
#include <kj/array.h>
#include <task-spec.capnp.h>

#include "config/config.h"

namespace taskctl {

// The whole spec as encoded, every field together (each field has its own
// bound in the schema's constants; this bounds what they add up to).
constexpr size_t MAX_TASK_BYTES = 2 << 20;

// The longest timeout a task may have: what --timeout takes, and what
// EXTEND_TIMEOUT_USEC= may raise an attempt's timeout to (from its start).
constexpr uint64_t MAX_TIMEOUT_USEC = 366ull * 86400 * 1000000;

void checkTaskSpec(spec::TaskSpec::Reader request);
// Refuses (FAILED, a message for a person that names the field) what no
// queue would take: a command, environment, cwd, queue name, priority,
// labels, retry policy, dependency count, key or request id outside the
// contract. Its limits are checked by resolveLimits (they depend on the
// queue); its dependencies, delay and --at by the scheduler (they depend on
// the store and the clock).

void resolveLimits(spec::TaskLimits::Reader asked, const QueueConfig& queue,
                   spec::TaskLimits::Builder inForce);
// The limits a task of `queue` runs with: each one asked for, else the
// queue's default (0: none); the kill grace is never 0 (the queue's, else
// spec::DEFAULT_KILL_GRACE_USEC). Refuses a limit in force that is out of
// range, whichever side gave it.

kj::Maybe<kj::String> aboveQueueMaximum(spec::TaskLimits::Reader limits, const QueueConfig& queue);
// What of `limits` (in force) is above the queue's maximums (max_timeout,
// max_memory, max_cpu), for a person ("timeout 3h is above queue q's
// max_timeout (2h)"); null if nothing is. Only root and the admin group may
// go past them (at submit and with `update`).

void checkRetryGrowth(spec::RetryPolicy::Reader retry, spec::TaskLimits::Reader inForce);
// Refuses a retry growth (RetryPolicy.memoryGrowFactor, timeoutGrowFactor)
// that cannot act as asked: a factor out of 1..spec::MAX_GROW_FACTOR, one
// without the matching retry condition (onOom, onTimeout) or without a limit
// in force to grow, a maximum without its factor or below the limit.

uint64_t grownLimit(uint64_t current, double factor, uint64_t max, uint64_t bound);
// `current` times `factor` (rounded down, and at least one more than
// `current`), then capped by `max` (0: none) and `bound` (the largest such
// a limit may be); never below `current`. A factor of 0: `current`.

bool isDroppedVariable(kj::ArrayPtr<const kj::byte> entry);
// DESIGN 8, "Inside a task": an environment entry the client's environment
// may not carry in (it is dropped, not refused): systemd's and the dynamic
// loader's variables, and anything that is not KEY=VALUE.

capnp::Orphan<capnp::List<capnp::Data>> keptEnvironment(capnp::List<capnp::Data>::Reader env,
                                                        capnp::Orphanage orphanage);
// `env` without its dropped entries, in order, for a stored task to adopt.

void applyRetryDefault(spec::RetryPolicy::Builder policy);
// DESIGN 6: `--retries N` alone (retries > 0, none of the on* set) retries
// after a non-zero exit, a timeout and a missed heartbeat; memory kills,
// signals and vanished scopes only when named. Otherwise leaves `policy`
// as it is.

}  // namespace taskctl
