#include "dataplane/metrics/handles.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace fwd::dataplane::metrics {
namespace {

TEST(WorkerHandlesTest, HandlesAreTheCellsOfTheirLabels) {
  // A handle is the cell the family has for those labels, on this worker's shard.
  Metrics m(2);
  WorkerHandles h(m, 1, 3);
  EXPECT_EQ(&h.upstreamInFlight(2, "c"), &m.upstream_in_flight.cell(1, {"c"}));
  EXPECT_EQ(&h.upstreamDuration(0, "a"), &m.upstream_duration.cell(1, {"a"}));
  EXPECT_EQ(&h.streamTtfb(0, "a"), &m.stream_ttfb.cell(1, {"a"}));
  EXPECT_EQ(&h.streamedEvents(1, "b"), &m.streamed_events.cell(1, {"b"}));
  EXPECT_EQ(&h.upstreamRetries(1, "b"), &m.upstream_retries.cell(1, {"b"}));
  EXPECT_EQ(&h.upstreamAttempts(1, "b", "ok"), &m.upstream_attempts.cell(1, {"b", "ok"}));
  EXPECT_EQ(&h.upstreamAttempts(1, "b", "timeout"), &m.upstream_attempts.cell(1, {"b", "timeout"}));
  EXPECT_NE(&h.upstreamInFlight(2, "c"), &m.upstream_in_flight.cell(0, {"c"}));
}

TEST(WorkerHandlesTest, RequestCountsLandOnTheirLabelsWhateverTheMemoHolds) {
  // More label sets than the memo has slots, counted in an interleaved order: each series gets
  // exactly its own requests (a slot taken over by another label set is looked up again).
  Metrics m(1);
  WorkerHandles h(m, 0, 1);
  std::vector<std::string> routes, models;
  for (int i = 0; i < 40; ++i) {
    routes.push_back("route-" + std::to_string(i));
    models.push_back("model-" + std::to_string(i));
  }
  const std::string upstream = "up";
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 40; ++i) {
      for (int status : {200, 502, 429}) {
        h.requests(routes[i], models[i], upstream, status).add();
        h.requestDuration(routes[i], upstream).observe(0.5);
      }
    }
  }
  for (int i = 0; i < 40; ++i) {
    for (int status : {200, 502, 429}) {
      EXPECT_EQ(
          m.requests.cell(0, {routes[i], models[i], upstream, std::to_string(status)}).value(), 3u);
    }
    EXPECT_DOUBLE_EQ(m.request_duration.cell(0, {routes[i], upstream}).sum(), 4.5);
  }
}

TEST(WorkerHandlesTest, UsageIsByKeyOnlyWhenTheOperatorAsked) {
  // Without the key label one series takes every key's tokens; with it each key has its own.
  const std::string model = "gpt-4o", upstream = "up", alice = "alice", bob = "bob";
  Metrics plain(1);
  WorkerHandles p(plain, 0, 1);
  p.usage(model, upstream, alice).prompt->add(3);
  p.usage(model, upstream, bob).prompt->add(4);
  EXPECT_EQ(plain.tokens.cell(0, {model, upstream, "prompt"}).value(), 7u);
  EXPECT_FALSE(plain.keyLabel());

  Metrics keyed(1, /*key_label=*/true);
  WorkerHandles k(keyed, 0, 1);
  k.usage(model, upstream, alice).prompt->add(3);
  k.usage(model, upstream, bob).prompt->add(4);
  k.usage(model, upstream, alice).cost_nano_usd->add(5);
  k.usage(model, upstream, bob).estimated->add();
  EXPECT_EQ(keyed.tokens.cell(0, {alice, model, upstream, "prompt"}).value(), 3u);
  EXPECT_EQ(keyed.tokens.cell(0, {bob, model, upstream, "prompt"}).value(), 4u);
  EXPECT_EQ(keyed.cost.cell(0, {alice, model, upstream}).value(), 5u);
  EXPECT_EQ(keyed.usage_estimated.cell(0, {bob, model, upstream}).value(), 1u);
  bool labelled = false;
  for (const auto& family : keyed.Collect()) {
    if (family.name == "fwd_tokens_total") {
      for (const auto& metric : family.metric) {
        labelled = labelled || (metric.label.size() == 4 && metric.label[0].name == "key");
      }
    }
  }
  EXPECT_TRUE(labelled);
}

}  // namespace
}  // namespace fwd::dataplane::metrics
