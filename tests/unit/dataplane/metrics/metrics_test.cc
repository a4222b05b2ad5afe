#include "dataplane/metrics/metrics.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>

#include "dataplane/config/compiled_config.h"
#include "dataplane/health/health_checker.h"
#include "dataplane/records/recorder.h"

namespace fwd::dataplane::metrics {
namespace {

std::string exposition(const Metrics& m) {
  return prometheus::TextSerializer().Serialize(m.Collect());
}

bool contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

TEST(MetricsTest, ShardsAreSummedInTheExposition) {
  // Increments from different workers appear as one series with the total.
  Metrics m(2);
  m.requests.cell(0, {"default", "gpt-4o", "a", "200"}).add();
  m.requests.cell(1, {"default", "gpt-4o", "a", "200"}).add(2);
  m.requests.cell(1, {"default", "gpt-4o", "b", "502"}).add();
  m.in_flight.cell(0, {}).add(3);
  m.in_flight.cell(1, {}).add(-1);
  m.config_version.Set(9);
  std::string text = exposition(m);
  EXPECT_TRUE(contains(text, "# TYPE fwd_requests_total counter")) << text;
  EXPECT_TRUE(contains(
      text, R"(fwd_requests_total{route="default",model="gpt-4o",upstream="a",status="200"} 3)"))
      << text;
  EXPECT_TRUE(contains(
      text, R"(fwd_requests_total{route="default",model="gpt-4o",upstream="b",status="502"} 1)"));
  EXPECT_TRUE(contains(text, "fwd_requests_in_flight 2"));
  EXPECT_TRUE(contains(text, "fwd_config_version 9"));
}

TEST(MetricsTest, HistogramBucketsAreCumulativeAcrossShards) {
  // Prometheus buckets count everything at or below their bound, summed over workers.
  Metrics m(2);
  m.request_duration.cell(0, {"default", "a"}).observe(0.0005);
  m.request_duration.cell(1, {"default", "a"}).observe(0.003);
  m.request_duration.cell(1, {"default", "a"}).observe(400);
  std::string text = exposition(m);
  EXPECT_TRUE(contains(
      text, R"(fwd_request_duration_seconds_bucket{route="default",upstream="a",le="0.001"} 1)"))
      << text;
  EXPECT_TRUE(contains(
      text, R"(fwd_request_duration_seconds_bucket{route="default",upstream="a",le="0.005"} 2)"));
  EXPECT_TRUE(contains(
      text, R"(fwd_request_duration_seconds_bucket{route="default",upstream="a",le="300"} 2)"));
  EXPECT_TRUE(contains(
      text, R"(fwd_request_duration_seconds_bucket{route="default",upstream="a",le="+Inf"} 3)"));
  EXPECT_TRUE(
      contains(text, R"(fwd_request_duration_seconds_count{route="default",upstream="a"} 3)"));
}

TEST(MetricsTest, ScrapingWhileWorkersCountLosesNothing) {
  // Concurrent increments on two shards plus scrapes end in the exact total.
  Metrics m(2);
  constexpr int kPerWorker = 20000;
  auto work = [&](size_t shard) {
    for (int i = 0; i < kPerWorker; ++i) {
      // New label sets keep appearing, exercising insert-while-scraping.
      m.requests.cell(shard, {"r", "m" + std::to_string(i % 50), "u", "200"}).add();
    }
  };
  std::thread a(work, 0);
  std::thread b(work, 1);
  for (int i = 0; i < 20; ++i) {
    exposition(m);
  }
  a.join();
  b.join();
  double total = 0;
  for (const auto& family : m.Collect()) {
    if (family.name == "fwd_requests_total") {
      for (const auto& metric : family.metric) {
        total += metric.counter.value;
      }
    }
  }
  EXPECT_EQ(total, 2.0 * kPerWorker);
}

// Every metric family a running data plane exports, by name (histograms also by their
// _bucket/_sum/_count series). prometheus-cpp leaves a family without series out of a scrape,
// so each family that gets its series at run time is given one the way the data plane does.
std::set<std::string> exportedNames() {
  Metrics m(1);
  // The request records' families register in the same registry (as main.cc wires them).
  std::string spill = ::testing::TempDir() + "metrics-test-records.spill";
  records::Recorder::Options records;
  records.address = "127.0.0.1:1";
  records.spill_path = spill;
  records::Recorder recorder(records, *m.registry());
  m.scrape_time_families = [] {
    fwd::v1::UpstreamState state;
    state.set_name("u");
    return std::vector<prometheus::MetricFamily>{ejectedFamily({state})};
  };
  m.model_fetches.Add({{"upstream", "u"}, {"outcome", "ok"}});

  // The health checker registers its families in the same registry (as main.cc wires it); its
  // gauge gets a series when a config brings a checked upstream, its counter after one probe
  // (of a port nothing listens on: refused at once).
  probe::TlsClientContexts tls;
  health::HealthChecker checker(*m.registry(), tls);
  checker.start();
  fwd::v1::Snapshot snapshot;
  snapshot.set_version(1);
  auto* u = snapshot.add_upstreams();
  u->set_name("u");
  u->set_base_url("http://127.0.0.1:1/v1");
  u->mutable_health_check()->mutable_interval()->set_seconds(1);
  u->mutable_health_check()->mutable_timeout()->set_nanos(500'000'000);
  auto compiled = config::CompiledConfig::compile(
      snapshot, [](const std::string&) { return std::optional<std::string>(); });
  EXPECT_TRUE(compiled.ok()) << compiled.status();
  if (compiled.ok()) {
    checker.update(*compiled);
  }

  std::set<std::string> names;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  do {
    names.clear();
    for (const auto& family : m.Collect()) {
      names.insert(family.name);
      if (family.type == prometheus::MetricType::Histogram) {
        for (const char* suffix : {"_bucket", "_sum", "_count"}) {
          names.insert(family.name + suffix);
        }
      }
    }
    if (names.count("fwd_upstream_health_checks_total") == 1) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  } while (std::chrono::steady_clock::now() < deadline);
  checker.stop();
  std::remove(spill.c_str());
  return names;
}

nlohmann::json loadDashboard() {
  std::ifstream in(std::string(FWD_SOURCE_DIR) + "/deploy/grafana/fwd-dashboard.json");
  EXPECT_TRUE(in) << "dashboard file missing";
  return in ? nlohmann::json::parse(in) : nlohmann::json::object();
}

// The dashboard's panels, those inside collapsed rows included.
std::vector<nlohmann::json> panelsOf(const nlohmann::json& dashboard) {
  std::vector<nlohmann::json> panels;
  if (!dashboard.contains("panels")) {
    return panels;
  }
  for (const auto& panel : dashboard["panels"]) {
    panels.push_back(panel);
    if (panel.contains("panels")) {
      for (const auto& inner : panel["panels"]) {
        panels.push_back(inner);
      }
    }
  }
  return panels;
}

TEST(MetricsTest, EveryMetricTheGrafanaDashboardQueriesExists) {
  // deploy/grafana/fwd-dashboard.json only uses metric names the data plane exports (histogram
  // series by their _bucket/_sum/_count names), so a renamed metric breaks this test, not the
  // operators' dashboard.
  std::set<std::string> exported = exportedNames();
  for (const char* name :
       {"fwd_upstream_ejected", "fwd_upstream_healthy", "fwd_upstream_health_checks_total",
        "fwd_upstream_model_fetches_total"}) {
    EXPECT_EQ(exported.count(name), 1u) << name << " missing from the exported families";
  }
  nlohmann::json dashboard = loadDashboard();
  std::vector<std::string> queries;
  for (const auto& panel : panelsOf(dashboard)) {
    if (panel.contains("targets")) {
      for (const auto& target : panel["targets"]) {
        queries.push_back(target["expr"]);
      }
    }
  }
  for (const auto& var : dashboard["templating"]["list"]) {
    if (var.contains("query") && var["query"].is_string()) {
      queries.push_back(var["query"]);
    }
  }
  ASSERT_GE(queries.size(), 10u);
  std::regex name(R"(fwd_[a-z_]+)");
  size_t checked = 0;
  for (const auto& q : queries) {
    for (std::sregex_iterator it(q.begin(), q.end(), name), end; it != end; ++it) {
      EXPECT_EQ(exported.count(it->str()), 1u) << it->str() << " in: " << q;
      ++checked;
    }
  }
  EXPECT_GE(checked, 15u);
}

TEST(MetricsTest, GrafanaDashboardPanelsHaveUniqueIdsAndDoNotOverlap) {
  // Every panel (rows included) has its own id and a grid position inside the 24 columns that
  // no other panel covers, so Grafana shows the layout as written instead of shuffling it.
  std::vector<nlohmann::json> panels = panelsOf(loadDashboard());
  ASSERT_FALSE(panels.empty());
  std::set<int> ids;
  for (const auto& panel : panels) {
    EXPECT_TRUE(ids.insert(panel["id"].get<int>()).second) << "duplicate id " << panel["id"];
    const auto& g = panel["gridPos"];
    EXPECT_GE(g["x"].get<int>(), 0) << panel["title"];
    EXPECT_GT(g["w"].get<int>(), 0) << panel["title"];
    EXPECT_GT(g["h"].get<int>(), 0) << panel["title"];
    EXPECT_LE(g["x"].get<int>() + g["w"].get<int>(), 24) << panel["title"];
  }
  for (size_t i = 0; i < panels.size(); ++i) {
    for (size_t j = i + 1; j < panels.size(); ++j) {
      const auto& a = panels[i]["gridPos"];
      const auto& b = panels[j]["gridPos"];
      bool apart = a["x"].get<int>() + a["w"].get<int>() <= b["x"].get<int>() ||
                   b["x"].get<int>() + b["w"].get<int>() <= a["x"].get<int>() ||
                   a["y"].get<int>() + a["h"].get<int>() <= b["y"].get<int>() ||
                   b["y"].get<int>() + b["h"].get<int>() <= a["y"].get<int>();
      EXPECT_TRUE(apart) << panels[i]["title"] << " overlaps " << panels[j]["title"];
    }
  }
}

}  // namespace
}  // namespace fwd::dataplane::metrics
