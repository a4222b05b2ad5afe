#include "dataplane/routing/router.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace fwd::dataplane::routing {
namespace {

std::optional<std::string> noEnv(const std::string&) { return std::nullopt; }

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    addUpstream("openai", {"gpt-*"}, 1);
    addUpstream("azure", {"gpt-*"}, 2)->add_deny_models("gpt-4o-mini");
    addUpstream("local", {"llama*"}, 3);
  }
  fwd::v1::Upstream* addUpstream(const std::string& name, std::vector<std::string> models,
                                 std::uint64_t id) {
    auto* u = snapshot_.add_upstreams();
    u->set_name(name);
    u->set_base_url("http://127.0.0.1:9/v1");
    for (auto& m : models) {
      u->add_models(m);
    }
    u->set_id(id);
    return u;
  }
  fwd::v1::Route* addRoute(const std::string& name, std::vector<std::string> upstreams,
                           std::uint64_t id) {
    auto* r = snapshot_.add_routes();
    r->set_name(name);
    r->set_id(id);
    for (auto& u : upstreams) {
      r->add_upstreams(u);
    }
    return r;
  }
  const config::CompiledConfig& compiled() {
    auto c = config::CompiledConfig::compile(snapshot_, noEnv);
    EXPECT_TRUE(c.ok()) << c.status();
    cfg_ = *c;
    return *cfg_;
  }
  static std::vector<std::string> names(const RouteChoice& c) {
    std::vector<std::string> out;
    for (const auto* t : c.candidates) {
      out.push_back(t->name);
    }
    return out;
  }

  fwd::v1::Snapshot snapshot_;
  config::CompiledConfigConstSharedPtr cfg_;
};

TEST_F(RouterTest, WithoutARouteTheUpstreamsModelListsDecide) {
  // No route matches: every upstream serving the model, in try order, and no rewrite.
  const auto& cfg = compiled();
  ModelList models{"gpt-4o"};
  RouteChoice c = route(cfg, "", "gpt-4o", models);
  EXPECT_EQ(c.route, nullptr);
  EXPECT_EQ(names(c), (std::vector<std::string>{"openai", "azure"}));
  EXPECT_EQ(c.upstream_model, "gpt-4o");
  models = {"gpt-4o-mini"};
  EXPECT_EQ(names(route(cfg, "", "gpt-4o-mini", models)), (std::vector<std::string>{"openai"}));
  models = {"claude"};
  EXPECT_TRUE(route(cfg, "", "claude", models).candidates.empty());
}

TEST_F(RouterTest, ARouteChoosesItsGroupRewritesTheModelAndAddsFallbacksOnce) {
  // The route's group ignores allow lists but keeps deny lists; fallbacks are appended once.
  auto* r = addRoute("mini", {"azure", "local"}, 1);
  r->add_models()->set_keyword("mini");
  r->set_rewrite_model("gpt-4o-mini-2024");
  r->add_fallback_models("gpt-4o");
  r->add_fallback_models("mini-backup");
  const auto& cfg = compiled();
  ModelList models{"o1-mini"};
  RouteChoice c = route(cfg, "", "o1-mini", models);
  ASSERT_NE(c.route, nullptr);
  EXPECT_EQ(c.route->name, "mini");
  EXPECT_EQ(names(c), (std::vector<std::string>{"azure", "local"}));
  EXPECT_EQ(c.upstream_model, "gpt-4o-mini-2024");
  EXPECT_EQ(models, (ModelList{"o1-mini", "gpt-4o", "mini-backup"}));
  // Routing a fallback that matches the same route adds nothing twice.
  route(cfg, "", "mini-backup", models);
  EXPECT_EQ(models.size(), 3u);
  // azure denies gpt-4o-mini, even inside the route's group.
  models = {"gpt-4o-mini"};
  EXPECT_EQ(names(route(cfg, "", "gpt-4o-mini", models)), (std::vector<std::string>{"local"}));
}

TEST_F(RouterTest, APrefixedRequestGoesOnlyWhereAPrefixedRouteSendsIt) {
  // Under a route prefix, the upstreams' own lists do not apply: no matching route, no upstream.
  addRoute("local", {"local"}, 1)->set_path_prefix("/localai");
  const auto& cfg = compiled();
  ModelList models{"llama3"};
  EXPECT_EQ(names(route(cfg, "/localai", "llama3", models)), (std::vector<std::string>{"local"}));
  EXPECT_TRUE(route(cfg, "/other", "llama3", models).candidates.empty());
}

TEST_F(RouterTest, RouteTimeoutsAreResolvedPerUpstreamWhenTheSnapshotIsCompiled) {
  // A route's total limit caps the upstream's first-byte limits; other fields stay the upstream's.
  snapshot_.mutable_upstreams(0)->mutable_connect_timeout()->set_seconds(3);
  auto* r = addRoute("fast", {"openai"}, 1);
  r->mutable_timeouts()->mutable_total()->set_seconds(20);
  const auto& cfg = compiled();
  const config::CompiledRoute& route = cfg.routes().front();
  const config::UpstreamTarget& openai = cfg.upstreams().front();
  const config::AttemptTimeouts& t = route.timeoutsFor(openai);
  EXPECT_EQ(t.total, std::chrono::seconds(20));
  EXPECT_EQ(t.first_byte, std::chrono::seconds(20));
  EXPECT_EQ(t.stream_first_byte, std::chrono::seconds(20));
  EXPECT_EQ(t.connect, std::chrono::seconds(3));
  // An upstream outside the group keeps its own.
  const config::UpstreamTarget& local = cfg.upstreams().back();
  EXPECT_EQ(&route.timeoutsFor(local), &local.timeouts);
}

}  // namespace
}  // namespace fwd::dataplane::routing
