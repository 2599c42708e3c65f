#include "schedule-render.h"

#include <capnp/message.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>

namespace kj {
// gtest shows kj::String as bytes without this.
inline void PrintTo(const String& text, std::ostream* os) { *os << '"' << text.cStr() << '"'; }
}  // namespace kj

namespace taskctl {
namespace {

// 2026-11-25T09:50:20Z and 10 s later.
constexpr int64_t LAST = 1795600220ll * 1000000000;
constexpr int64_t NEXT = LAST + 10ll * 1000000000;

void fill(capnp::List<rpc::ScheduleView>::Builder schedules) {
  schedules[0].setName("tick");
  schedules[0].setUid(1000);
  schedules[0].setOnCalendar("*:*:0/10");
  schedules[0].setNextRunAt(NEXT);
  schedules[0].setLastRunAt(LAST);
  auto ids = schedules[0].initTaskIds(7);
  for (uint32_t i = 0; i < 7; i++) ids.set(i, 10 + i);
  schedules[0].setTimerUnit("taskctl-schedule-1000-tick.timer");
  schedules[0].setServiceUnit("taskctl-schedule-1000-tick.service");
  schedules[1].setName("nightly");
  schedules[1].setUid(0);
  schedules[1].setOnCalendar("daily");
}

class ScheduleRender : public testing::Test {
 protected:
  void SetUp() override {
    setenv("TZ", "UTC", 1);
    tzset();
  }
};

TEST_F(ScheduleRender, TableShowsTimesLocallyAndTheLatestTaskIds) {
  capnp::MallocMessageBuilder message;
  auto schedules = message.initRoot<capnp::List<rpc::ScheduleView>>(2);
  fill(schedules);
  auto readers = KJ_MAP(s, schedules.asReader()) { return s; };
  EXPECT_EQ(scheduleTable(readers),
            "NAME      UID  CALENDAR  NEXT                 LAST                 TASKS\n"
            "tick     1000  *:*:0/10  2026-11-25 09:50:30  2026-11-25 09:50:20  (7) ... 12 13 "
            "14 15 16\n"
            "nightly     0  daily     -                    -                    -\n");
}

TEST_F(ScheduleRender, JsonHasEveryFieldWithNullForNoTime) {
  capnp::MallocMessageBuilder message;
  auto schedules = message.initRoot<capnp::List<rpc::ScheduleView>>(2);
  fill(schedules);
  auto readers = KJ_MAP(s, schedules.asReader()) { return s; };
  EXPECT_EQ(schedulesJson(readers),
            "[{\"name\":\"tick\",\"uid\":1000,\"on_calendar\":\"*:*:0/10\","
            "\"next_run_at\":\"2026-11-25T09:50:30.000000Z\","
            "\"last_run_at\":\"2026-11-25T09:50:20.000000Z\","
            "\"task_ids\":[10,11,12,13,14,15,16],"
            "\"timer_unit\":\"taskctl-schedule-1000-tick.timer\","
            "\"service_unit\":\"taskctl-schedule-1000-tick.service\"},"
            "{\"name\":\"nightly\",\"uid\":0,\"on_calendar\":\"daily\",\"next_run_at\":null,"
            "\"last_run_at\":null,\"task_ids\":[],\"timer_unit\":null,\"service_unit\":null}]\n");
}

TEST_F(ScheduleRender, TableOfNoSchedulesIsTheHeader) {
  EXPECT_EQ(scheduleTable(nullptr), "NAME  UID  CALENDAR  NEXT  LAST  TASKS\n");
}

}  // namespace
}  // namespace taskctl
