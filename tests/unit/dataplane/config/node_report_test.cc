// NodeReport building and change detection: the upstreams of the config in force in try order
// with their shared health state, and which differences are worth a report.
#include "dataplane/config/node_report.h"

#include <gtest/gtest.h>

#include <functional>

namespace fwd::dataplane::config {
namespace node_report_test {

using Clock = UpstreamHealth::Clock;

fwd::v1::UpstreamState state(const std::string& name) {
  fwd::v1::UpstreamState s;
  s.set_name(name);
  return s;
}

fwd::v1::NodeReport reportOf(std::initializer_list<fwd::v1::UpstreamState> states) {
  fwd::v1::NodeReport r;
  for (const auto& s : states) {
    *r.add_upstreams() = s;
  }
  return r;
}

TEST(NodeReportTest, CoversTheUpstreamsOfTheConfigInTryOrder) {
  // One entry per upstream of the config, in try order, carrying the registry's state; no
  // config, no entries.
  fwd::v1::Snapshot snapshot;
  for (auto [name, priority] : {std::pair{"late", 5}, std::pair{"early", -1}}) {
    fwd::v1::Upstream* u = snapshot.add_upstreams();
    u->set_name(name);
    u->set_base_url("http://127.0.0.1:9/v1");
    u->add_models("*");
    u->set_priority(priority);
  }
  UpstreamHealthRegistry health;
  auto compiled = CompiledConfig::compile(snapshot, processEnv(), &health);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  const Clock::time_point now = Clock::now();
  health.get("late")->coolUntil(now + std::chrono::seconds(5));
  health.get("early")->setActive(UpstreamHealth::Active::kUnhealthy);

  fwd::v1::NodeReport report = buildNodeReport(compiled->get(), health, now);
  ASSERT_EQ(report.upstreams_size(), 2);
  EXPECT_EQ(report.upstreams(0).name(), "early");
  EXPECT_EQ(report.upstreams(0).health(), fwd::v1::UpstreamState::HEALTH_UNHEALTHY);
  EXPECT_EQ(report.upstreams(1).name(), "late");
  EXPECT_EQ(report.upstreams(1).cooling_left().seconds(), 5);
  EXPECT_EQ(buildNodeReport(nullptr, health, now).upstreams_size(), 0);
}

TEST(NodeReportTest, CountdownsTickingDownAreNoChange) {
  // Shorter ejection_left/cooling_left are no news; a countdown starting or ending is.
  fwd::v1::UpstreamState before = state("a");
  before.set_ejected(true);
  before.mutable_ejection_left()->set_seconds(30);
  before.mutable_cooling_left()->set_seconds(5);
  fwd::v1::UpstreamState ticked = before;
  ticked.mutable_ejection_left()->set_seconds(29);
  ticked.mutable_cooling_left()->set_nanos(1);
  ticked.mutable_cooling_left()->set_seconds(0);
  EXPECT_FALSE(reportChanged(reportOf({before}), reportOf({ticked})));

  fwd::v1::UpstreamState cooled = ticked;
  cooled.clear_cooling_left();
  EXPECT_TRUE(reportChanged(reportOf({ticked}), reportOf({cooled})));
  EXPECT_TRUE(reportChanged(reportOf({cooled}), reportOf({ticked})));
  fwd::v1::UpstreamState zero_cooling = cooled;
  zero_cooling.mutable_cooling_left();  // set but zero: not running either
  EXPECT_FALSE(reportChanged(reportOf({cooled}), reportOf({zero_cooling})));
}

TEST(NodeReportTest, EveryOtherFieldIsAChange) {
  // Ejection state, counters, active health, the set and order of upstreams all count.
  const fwd::v1::NodeReport base = reportOf({state("a"), state("b")});
  EXPECT_FALSE(reportChanged(base, base));
  auto changed = [&](const std::function<void(fwd::v1::UpstreamState&)>& edit) {
    fwd::v1::NodeReport next = base;
    edit(*next.mutable_upstreams(0));
    return reportChanged(base, next);
  };
  EXPECT_TRUE(changed([](auto& s) { s.set_ejected(true); }));
  EXPECT_TRUE(changed([](auto& s) { s.set_ejections(1); }));
  EXPECT_TRUE(changed([](auto& s) { s.set_consecutive_failures(2); }));
  EXPECT_TRUE(changed([](auto& s) { s.set_health(fwd::v1::UpstreamState::HEALTH_HEALTHY); }));
  EXPECT_TRUE(changed([](auto& s) { s.set_name("c"); }));
  EXPECT_TRUE(reportChanged(base, reportOf({state("b"), state("a")})));
  EXPECT_TRUE(reportChanged(base, reportOf({state("a")})));
  EXPECT_TRUE(reportChanged(fwd::v1::NodeReport(), base));
}

}  // namespace node_report_test
}  // namespace fwd::dataplane::config
