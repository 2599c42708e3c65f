#include "submit-options.h"

#include <stdlib.h>

#include "common/units.h"
#include "format.h"

namespace taskctl {

namespace {

// The daemon's backoff ceiling when none is given (rpc.capnp, RetryPolicy.backoffMaxUsec).
constexpr uint64_t DEFAULT_BACKOFF_MAX_USEC = 10 * 60 * 1'000'000ull;

constexpr kj::StringPtr RETRY_ON_WORDS =
    "exit:any, exit:CODES, signal, oom, timeout, heartbeat or lost"_kj;

kj::Maybe<int32_t> exitCode(kj::StringPtr text) {
  KJ_IF_MAYBE (value, parseUnsigned(text)) {
    if (*value >= 1 && *value <= 255) return static_cast<int32_t>(*value);
  }
  return nullptr;
}

bool isDigits(kj::StringPtr text) {
  if (text.size() == 0) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

void addCode(RetryConditions& conditions, int32_t code) {
  for (auto known : conditions.exitCodes) {
    if (known == code) return;
  }
  conditions.exitCodes.add(code);
}

}  // namespace

kj::OneOf<DependencyArg, kj::String> parseDependency(kj::StringPtr text) {
  auto idText = text.asArray();
  auto condition = spec::DependencyCondition::OK;
  KJ_IF_MAYBE (colon, text.findFirst(':')) {
    idText = text.slice(0, *colon);
    auto suffix = text.slice(*colon + 1);
    if (suffix == "ok") {
      condition = spec::DependencyCondition::OK;
    } else if (suffix == "any") {
      condition = spec::DependencyCondition::ANY;
    } else if (suffix == "failed") {
      condition = spec::DependencyCondition::FAILED;
    } else {
      return kj::str("--after takes ID:ok, ID:any or ID:failed, not '", text, "'");
    }
  }
  KJ_IF_MAYBE (id, parseUnsigned(kj::heapString(idText))) {
    return DependencyArg{*id, condition};
  }
  return kj::str(
      "--after needs a task id, optionally with :ok, :any or :failed (12, 12:any), not '", text,
      "'");
}

kj::Maybe<kj::String> addRetryConditions(RetryConditions& conditions, kj::StringPtr list) {
  // Splitting by hand rather than with a library: an empty item is a mistake worth naming.
  kj::Vector<kj::String> items;
  for (size_t start = 0;;) {
    KJ_IF_MAYBE (comma, list.slice(start).findFirst(',')) {
      items.add(kj::heapString(list.slice(start, start + *comma)));
      start += *comma + 1;
    } else {
      items.add(kj::heapString(list.slice(start)));
      break;
    }
  }

  // Set after exit:CODE, so that bare codes may follow it; cleared by any other item.
  bool inExitCodes = false;
  for (auto& item : items) {
    if (item.size() == 0) {
      return kj::str("--retry-on has an empty item in '", list, "' (items are separated by ',')");
    }
    if (isDigits(item)) {
      if (!inExitCodes) {
        return kj::str("--retry-on: '", item, "' looks like an exit code; write exit:", item,
                       " (more codes may follow: exit:1,2)");
      }
      KJ_IF_MAYBE (code, exitCode(item)) {
        addCode(conditions, *code);
        continue;
      }
      return kj::str("--retry-on exit codes must be from 1 to 255, not '", item, "'");
    }
    inExitCodes = false;
    if (item.startsWith("exit:")) {
      auto codes = item.slice(5);
      if (codes == "any") {
        conditions.exitAny = true;
        continue;
      }
      KJ_IF_MAYBE (code, exitCode(codes)) {
        addCode(conditions, *code);
        inExitCodes = true;
        continue;
      }
      return kj::str("--retry-on exit codes must be 'any' or from 1 to 255, not '", codes, "'");
    }
    if (item == "exit") {
      return kj::str("--retry-on exit needs the codes: exit:any, or exit:CODE like exit:1,2");
    }
    if (item == "signal") {
      conditions.onSignal = true;
    } else if (item == "oom") {
      conditions.onOom = true;
    } else if (item == "timeout") {
      conditions.onTimeout = true;
    } else if (item == "heartbeat") {
      conditions.onHeartbeat = true;
    } else if (item == "lost") {
      conditions.onLost = true;
    } else {
      return kj::str("--retry-on takes ", RETRY_ON_WORDS, ", not '", item, "'");
    }
  }
  return nullptr;
}

kj::OneOf<Backoff, kj::String> parseBackoff(kj::StringPtr text) {
  auto malformed = [&]() -> kj::OneOf<Backoff, kj::String> {
    return kj::str("--backoff must be BASE or BASE,MAX, durations like 5s or 5s,10m, not '", text,
                   "'");
  };
  auto duration = [](kj::ArrayPtr<const char> part) -> uint64_t {
    return parseDurationUsec(kj::heapString(part)).orDefault(0);
  };
  Backoff backoff{0, 0};
  KJ_IF_MAYBE (comma, text.findFirst(',')) {
    backoff.baseUsec = duration(text.slice(0, *comma));
    backoff.maxUsec = duration(text.slice(*comma + 1));
    if (backoff.baseUsec == 0 || backoff.maxUsec == 0) return malformed();
    if (backoff.maxUsec < backoff.baseUsec) {
      return kj::str("--backoff MAX (", formatDurationUsec(backoff.maxUsec),
                     ") must not be below BASE (", formatDurationUsec(backoff.baseUsec), ")");
    }
    return backoff;
  }
  backoff.baseUsec = duration(text);
  if (backoff.baseUsec == 0) return malformed();
  if (backoff.baseUsec > DEFAULT_BACKOFF_MAX_USEC) {
    return kj::str("--backoff ", text,
                   " is above the default maximum (10m): add a MAX of at least ", text,
                   " (--backoff ", text, ",MAX)");
  }
  return backoff;
}

kj::OneOf<double, kj::String> parseGrowFactor(kj::StringPtr option, kj::StringPtr text) {
  auto number = text.endsWith("x") ? text.slice(0, text.size() - 1) : text.asArray();
  // Digits with at most one point; nothing strtod would also take (signs, exponents, "inf").
  bool digits = false, point = false;
  for (char c : number) {
    if (c >= '0' && c <= '9') {
      digits = true;
    } else if (c == '.' && !point) {
      point = true;
    } else {
      digits = false;
      break;
    }
  }
  if (digits && number.size() <= 16) {
    double value = strtod(kj::heapString(number).cStr(), nullptr);
    if (value > 1 && value <= spec::MAX_GROW_FACTOR) return value;
  }
  return kj::str(option, " must be a factor above 1 and at most ", spec::MAX_GROW_FACTOR,
                 "x, like 2x or 1.5x, not '", text, "'");
}

void setRetryPolicy(spec::RetryPolicy::Builder policy, uint32_t retries,
                    kj::Maybe<const RetryConditions&> conditions, kj::Maybe<Backoff> backoff,
                    const RetryGrowth& growth) {
  policy.setRetries(retries);
  policy.setMemoryGrowFactor(growth.memoryFactor);
  policy.setMemoryGrowMaxBytes(growth.memoryMaxBytes);
  policy.setTimeoutGrowFactor(growth.timeoutFactor);
  policy.setTimeoutGrowMaxUsec(growth.timeoutMaxUsec);
  KJ_IF_MAYBE (given, conditions) {
    policy.setOnExit(given->exitAny || given->exitCodes.size() > 0);
    // Any code covers the listed ones: the daemon reads an empty list as "any".
    if (!given->exitAny) {
      auto codes = policy.initExitCodes(given->exitCodes.size());
      for (auto i : kj::indices(given->exitCodes)) codes.set(i, given->exitCodes[i]);
    }
    policy.setOnSignal(given->onSignal);
    policy.setOnOom(given->onOom);
    policy.setOnTimeout(given->onTimeout);
    policy.setOnHeartbeat(given->onHeartbeat);
    policy.setOnLost(given->onLost);
  }
  KJ_IF_MAYBE (given, backoff) {
    policy.setBackoffBaseUsec(given->baseUsec);
    policy.setBackoffMaxUsec(given->maxUsec);
  }
}

kj::Maybe<kj::String> checkIdentifier(kj::StringPtr option, kj::StringPtr text) {
  if (text.size() == 0) return kj::str(option, " must not be empty");
  if (text.size() > spec::MAX_KEY_BYTES) {
    return kj::str(option, " must be at most ", spec::MAX_KEY_BYTES, " bytes, not ", text.size());
  }
  auto bytes = text.asBytes();
  for (size_t i = 0; i < bytes.size();) {
    size_t length = utf8SequenceLength(bytes.slice(i, bytes.size()));
    bool control = length == 1 && (bytes[i] < 0x20 || bytes[i] == 0x7f);
    bool c1Control = length == 2 && bytes[i] == 0xc2 && bytes[i + 1] < 0xa0;
    if (length == 0 || control || c1Control) {
      return kj::str(option, " must be UTF-8 text without control characters");
    }
    i += length;
  }
  return nullptr;
}

kj::Maybe<spec::KeyConflict> parseKeyConflict(kj::StringPtr text) {
  if (text == "queue") return spec::KeyConflict::QUEUE;
  if (text == "skip") return spec::KeyConflict::SKIP;
  if (text == "replace") return spec::KeyConflict::REPLACE;
  return nullptr;
}

}  // namespace taskctl
