#include "dataplane/rewrite/request_edits.h"

#include <gtest/gtest.h>

#include "dataplane/rewrite/body_edits.h"
#include "tests/unit/dataplane/test_request.h"

namespace fwd::dataplane::rewrite {
namespace {

config::EnvLookup noEnv() {
  return [](const std::string&) { return std::optional<std::string>(); };
}

fwd::v1::Upstream* addUpstream(fwd::v1::Snapshot& s, const std::string& name) {
  auto* u = s.add_upstreams();
  u->set_name(name);
  u->set_base_url("http://127.0.0.1:1/v1");
  u->add_models("*");
  return u;
}

TEST(RequestEditsTest, ARoutesSetFieldsWinOverItsUpstreamsFieldByField) {
  fwd::v1::Edits upstream;
  upstream.set_max_tokens_cap(100);
  upstream.add_stop("A");
  upstream.set_strip_think(true);
  upstream.set_drop_empty_messages(true);
  upstream.set_answer_prefix("U");
  fwd::v1::Edits route;
  route.add_stop("B");
  route.set_strip_think(false);
  route.set_answer_prefix("");
  config::AttemptEdits e = config::resolveEdits(upstream, &route);
  EXPECT_EQ(e.body.max_tokens_cap, 100u);
  EXPECT_EQ(e.body.stop, std::vector<std::string>{"B"});
  EXPECT_FALSE(e.body.strip_think);
  EXPECT_TRUE(e.body.drop_empty_messages);
  EXPECT_EQ(e.answer_prefix, "");
  e = config::resolveEdits(upstream, nullptr);
  EXPECT_EQ(e.body.stop, std::vector<std::string>{"A"});
  EXPECT_EQ(e.answer_prefix, "U");
  EXPECT_TRUE(config::resolveEdits(fwd::v1::Edits(), nullptr).body.empty());
}

TEST(RequestEditsTest, ThePoliciesAreOnTheChainOnlyWhenSomethingConfiguresThem) {
  fwd::v1::Snapshot s;
  addUpstream(s, "a");
  auto plain = config::CompiledConfig::compile(s, noEnv());
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE((*plain)->policies().has(policy::kOnAttempt));
  EXPECT_FALSE((*plain)->policies().has(policy::kOnAnswer));

  auto* r = s.add_routes();
  r->set_name("r");
  r->set_path_prefix("/r");
  r->add_upstreams("a");
  r->mutable_edits()->set_max_tokens_cap(5);
  auto edited = config::CompiledConfig::compile(s, noEnv());
  ASSERT_TRUE(edited.ok()) << edited.status();
  EXPECT_TRUE((*edited)->policies().has(policy::kOnAttempt));
  EXPECT_FALSE((*edited)->policies().has(policy::kOnAnswer));
  const config::CompiledRoute& route = (*edited)->routes()[0];
  EXPECT_EQ(route.editsFor(*route.upstreams[0]).body.max_tokens_cap, 5u);
  EXPECT_FALSE(route.upstreams[0]->edits.body.max_tokens_cap);
}

TEST(RequestEditsTest, OnlyCompletionBodiesWithAModelAreEdited) {
  fwd::v1::Snapshot s;
  addUpstream(s, "a")->mutable_edits()->add_stop("S");
  auto c = config::CompiledConfig::compile(s, noEnv());
  ASSERT_TRUE(c.ok());
  testing::TestRequest request;
  pipeline::RequestContext& ctx = request.ctx();
  ctx.body.has_model = true;
  RequestEdits policy;
  for (auto [path, edited] : {std::pair{"/v1/chat/completions", true},
                              {"/v1/completions", true},
                              {"/v1/embeddings", false},
                              {"/v1/responses", false}}) {
    ctx.path = path;
    BodyEdits edits;
    policy.onAttempt(ctx, (*c)->upstreams()[0], edits, nullptr);
    EXPECT_EQ(!edits.stop.empty(), edited) << path;
  }
  ctx.path = "/v1/chat/completions";
  ctx.body.has_model = false;
  BodyEdits edits;
  policy.onAttempt(ctx, (*c)->upstreams()[0], edits, nullptr);
  EXPECT_TRUE(edits.empty());
}

}  // namespace
}  // namespace fwd::dataplane::rewrite
