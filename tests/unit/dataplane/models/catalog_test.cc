#include "dataplane/models/catalog.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "dataplane/models/models_endpoint.h"

namespace fwd::dataplane::models {
namespace {

using json = nlohmann::json;

fwd::v1::Upstream* addUpstream(fwd::v1::Snapshot& s, const std::string& name,
                               std::vector<std::string> models, std::vector<std::string> deny = {},
                               int priority = 0) {
  auto* u = s.add_upstreams();
  u->set_name(name);
  u->set_base_url("http://" + name + ".internal/v1");
  for (auto& m : models) {
    u->add_models(m);
  }
  for (auto& m : deny) {
    u->add_deny_models(m);
  }
  u->set_priority(priority);
  u->set_id(static_cast<std::uint64_t>(s.upstreams_size()));
  return u;
}

fwd::v1::Route* addRoute(fwd::v1::Snapshot& s, const std::string& name,
                         std::vector<std::string> upstreams, const std::string& prefix = "") {
  auto* r = s.add_routes();
  r->set_name(name);
  r->set_path_prefix(prefix);
  for (auto& u : upstreams) {
    r->add_upstreams(u);
  }
  r->set_id(static_cast<std::uint64_t>(s.routes_size()));
  return r;
}

config::CompiledConfigConstSharedPtr compile(const fwd::v1::Snapshot& s) {
  auto c = config::CompiledConfig::compile(s, [](const std::string&) { return std::nullopt; });
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : nullptr;
}

std::shared_ptr<const ReportedModelList> reported(std::vector<ReportedModel> models) {
  return std::make_shared<const ReportedModelList>(std::move(models));
}

CatalogConstSharedPtr build(const fwd::v1::Snapshot& s, const ReportedLists& lists = {}) {
  auto cfg = compile(s);
  return Catalog::build(
      *cfg, lists, [](const std::string&) { return 1'000; }, 1);
}

std::vector<std::string> ids(const Catalog& c, std::string_view prefix = "") {
  std::vector<std::string> out;
  for (const Model& m : c.models(prefix)) {
    out.push_back(m.id);
  }
  return out;
}

std::vector<std::string> listedIds(const std::string& body) {
  std::vector<std::string> out;
  json j = json::parse(body);
  EXPECT_EQ(j["object"], "list");
  for (const auto& m : j["data"]) {
    out.push_back(m["id"]);
  }
  return out;
}

using Ids = std::vector<std::string>;

TEST(CatalogTest, ConfigNamesAreLiteralAllowEntriesThatAreNotDenied) {
  // Globs and paths are not model names; a denied literal is not listed.
  fwd::v1::Snapshot s;
  addUpstream(s, "a", {"gpt-4o", "gpt-*", "/v1/models", "o1", "o1-preview"}, {"o1-*"});
  addUpstream(s, "b", {"llama3"});
  auto c = build(s);
  EXPECT_EQ(ids(*c), (Ids{"gpt-4o", "llama3", "o1"}));
  EXPECT_EQ(c->find("", "gpt-4o")->owned_by, "a");
  EXPECT_EQ(c->find("", "gpt-4o")->created, 1'000);
}

TEST(CatalogTest, RouteExactMatchesAreListedAsOwnedByFwd) {
  // Exact matches of a route are names clients can use; keywords and globs are not names.
  fwd::v1::Snapshot s;
  addUpstream(s, "a", {"none-*"});
  auto* r = addRoute(s, "alias", {"a"});
  r->add_models()->set_exact("my-alias");
  r->add_models()->set_keyword("claude");
  r->add_models()->set_glob("gemini-*");
  auto c = build(s);
  EXPECT_EQ(ids(*c), (Ids{"my-alias"}));
  EXPECT_EQ(c->find("", "my-alias")->owned_by, "fwd");
}

TEST(CatalogTest, ReportedModelsAreKeptOnlyWhenTheUpstreamWouldServeThem) {
  // An upstream's own list counts only for ids its allow list takes and its deny list spares.
  fwd::v1::Snapshot s;
  addUpstream(s, "a", {"gpt-*"}, {"gpt-3*"});
  ReportedLists lists{{"a", reported({{"gpt-4o", 1700000000, "openai"},
                                      {"gpt-3.5-turbo", std::nullopt, "openai"},
                                      {"whisper-1", std::nullopt, "openai"}})}};
  auto c = build(s, lists);
  EXPECT_EQ(ids(*c), (Ids{"gpt-4o"}));
  EXPECT_EQ(c->find("", "gpt-4o")->owned_by, "openai");
  EXPECT_EQ(c->find("", "gpt-4o")->created, 1700000000);
}

TEST(CatalogTest, ARouteWithoutMatchersTakesItsGroupsWholeList) {
  // A route sends what it matches to its group regardless of the upstreams' patterns, so a
  // catch-all route makes every id its upstream reports reachable; a matcher limits that.
  fwd::v1::Snapshot s;
  addUpstream(s, "a", {"none-*"});
  addUpstream(s, "b", {"none-*"});
  addRoute(s, "all", {"a"});
  addRoute(s, "some", {"b"})->add_models()->set_glob("qwen*");
  ReportedLists lists{{"a", reported({{"x-1", std::nullopt, ""}})},
                      {"b", reported({{"qwen2", std::nullopt, ""}, {"yi-34b", std::nullopt, ""}})}};
  auto c = build(s, lists);
  EXPECT_EQ(ids(*c), (Ids{"qwen2", "x-1"}));
  // Without an owner in the upstream's answer, the upstream's name.
  EXPECT_EQ(c->find("", "x-1")->owned_by, "a");
}

TEST(CatalogTest, TheUnionIsDeduplicatedSortedAndTheBestOwnerWins) {
  // One entry per id, sorted; a reported owner beats an upstream name, which beats "fwd", and
  // among equals the first upstream in try order wins.
  fwd::v1::Snapshot s;
  addUpstream(s, "late", {"m-*", "zeta"}, {}, 5);
  addUpstream(s, "early", {"m-*", "alpha", "m-1"}, {}, 1);
  addRoute(s, "r", {"late"})->add_models()->set_exact("m-1");
  ReportedLists lists{
      {"late", reported({{"m-1", std::nullopt, "late-org"}})},
      {"early", reported({{"m-2", std::nullopt, "early-org"}, {"m-3", std::nullopt, ""}})}};
  auto c = build(s, lists);
  EXPECT_EQ(ids(*c), (Ids{"alpha", "m-1", "m-2", "m-3", "zeta"}));
  EXPECT_EQ(c->find("", "m-1")->owned_by, "late-org");  // reported beats early's literal
  EXPECT_EQ(c->find("", "m-2")->owned_by, "early-org");
  EXPECT_EQ(c->find("", "m-3")->owned_by, "early");
  EXPECT_EQ(c->find("", "alpha")->owned_by, "early");
  EXPECT_EQ(listedIds(c->listBody("", {})), ids(*c));
}

TEST(CatalogTest, TheKeysPatternsFilterTheList) {
  // A key limited to patterns sees only matching models; an unlimited key sees all.
  fwd::v1::Snapshot s;
  addUpstream(s, "a", {"gpt-4o", "gpt-4o-mini", "o1", "claude-3"});
  auto c = build(s);
  EXPECT_EQ(listedIds(c->listBody("", {"gpt-*", "o1"})), (Ids{"gpt-4o", "gpt-4o-mini", "o1"}));
  EXPECT_EQ(listedIds(c->listBody("", {"nothing-*"})), Ids{});
  EXPECT_EQ(listedIds(c->listBody("", {})).size(), 4u);
}

TEST(CatalogTest, APrefixListsOnlyItsRoutesAndTheirGroups) {
  // /localai/v1/models: the prefix routes' exact names and their group's names and lists;
  // other upstreams stay out, and the prefix's models stay out of /v1/models.
  fwd::v1::Snapshot s;
  addUpstream(s, "cloud", {"gpt-4o"});
  addUpstream(s, "local", {"llama3", "local-*"});
  addRoute(s, "localai", {"local"}, "/localai");
  addRoute(s, "pinned", {"local"}, "/pinned")->add_models()->set_exact("phi3");
  ReportedLists lists{{"local", reported({{"mistral", std::nullopt, ""}})}};
  auto c = build(s, lists);
  EXPECT_EQ(ids(*c, "/localai"), (Ids{"llama3", "mistral"}));
  EXPECT_EQ(ids(*c, "/pinned"), (Ids{"phi3"}));   // the route matches nothing else
  EXPECT_EQ(ids(*c), (Ids{"gpt-4o", "llama3"}));  // local doesn't serve "mistral" by pattern
  EXPECT_TRUE(ids(*c, "/unknown").empty());
  EXPECT_EQ(listedIds(c->listBody("/unknown", {})), Ids{});
}

TEST(CatalogTest, ModelObjectsHaveOpenAIsShape) {
  // Each model renders as {"id","object":"model","created","owned_by"}.
  fwd::v1::Snapshot s;
  addUpstream(s, "a", {"gpt-4o"});
  auto c = build(s);
  json m = json::parse(c->find("", "gpt-4o")->json);
  EXPECT_EQ(m, json::parse(R"({"id":"gpt-4o","object":"model","created":1000,"owned_by":"a"})"));
  EXPECT_EQ(c->sequence(), 1u);
}

TEST(ParseModelListTest, ReadsIdsCreatedAndOwnersAndSkipsBadEntries) {
  // Entries without a usable string id are skipped; created and owned_by are optional.
  auto list = parseModelList(R"({"object":"list","data":[
      {"id":"a","object":"model","created":123,"owned_by":"me"},
      {"id":"b"},
      {"id":42}, {"name":"c"}, "d", {"id":""}, {"id":"bad\u0001id"},
      {"id":"e","created":"yesterday","owned_by":7}]})");
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].id, "a");
  EXPECT_EQ((*list)[0].created, 123);
  EXPECT_EQ((*list)[0].owned_by, "me");
  EXPECT_EQ((*list)[1].id, "b");
  EXPECT_FALSE((*list)[1].created.has_value());
  EXPECT_EQ((*list)[2].id, "e");
  EXPECT_FALSE((*list)[2].created.has_value());
  EXPECT_EQ((*list)[2].owned_by, "");
}

TEST(ParseModelListTest, RefusesWhatIsNotAModelList) {
  // Not JSON, or no data array: an error, so the fetch counts as invalid.
  EXPECT_FALSE(parseModelList("<html>").ok());
  EXPECT_FALSE(parseModelList(R"({"models":["a"]})").ok());
  EXPECT_FALSE(parseModelList(R"([{"id":"a"}])").ok());
  EXPECT_TRUE(parseModelList(R"({"data":[]})").ok());
}

class ModelsEndpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fwd::v1::Snapshot s;
    addUpstream(s, "a", {"gpt-4o", "o1", "org/model:v1"});
    addRoute(s, "local", {"a"}, "/localai");
    catalog_ = build(s);
    limited_.models = {"gpt-*", "org/*"};
  }

  std::optional<ModelsResponse> get(std::string_view path, const config::KeyEntry& key,
                                    std::string_view prefix = "") {
    return answerModelsRequest(catalog_.get(), true, prefix, path, key);
  }

  CatalogConstSharedPtr catalog_;
  config::KeyEntry all_;
  config::KeyEntry limited_;
};

TEST_F(ModelsEndpointTest, ListsWhatTheKeyMayUse) {
  // GET /v1/models is the key's share of the catalog.
  auto r = get("/v1/models", limited_);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(listedIds(r->body), (Ids{"gpt-4o", "org/model:v1"}));
  EXPECT_EQ(listedIds(get("/v1/models/", all_)->body).size(), 3u);
  EXPECT_EQ(listedIds(get("/v1/models", all_, "/localai")->body).size(), 3u);
}

TEST_F(ModelsEndpointTest, RetrievesOneModelAnd404sTheRestAlike) {
  // A model the key may not use gets the same 404 as one that does not exist.
  auto r = get("/v1/models/gpt-4o", limited_);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["id"], "gpt-4o");
  auto hidden = get("/v1/models/o1", limited_);
  auto missing = get("/v1/models/o2", limited_);
  ASSERT_TRUE(hidden.has_value() && missing.has_value());
  EXPECT_EQ(hidden->status, 404);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(json::parse(hidden->body)["error"]["code"], "model_not_found");
  EXPECT_EQ(json::parse(hidden->body)["error"]["param"], "model");
  EXPECT_EQ(json::parse(hidden->body)["error"]["type"], "invalid_request_error");
  EXPECT_EQ(get("/v1/models/o1", all_)->status, 200);
}

TEST_F(ModelsEndpointTest, IdsMayHoldSlashesAndPercentEscapes) {
  // "org/model:v1" is found spelled raw or percent-encoded; a broken escape is a 404.
  EXPECT_EQ(get("/v1/models/org/model:v1", limited_)->status, 200);
  EXPECT_EQ(get("/v1/models/org%2Fmodel%3av1", limited_)->status, 200);
  EXPECT_EQ(get("/v1/models/org%2", limited_)->status, 404);
}

TEST_F(ModelsEndpointTest, OtherRequestsAreNotItsBusiness) {
  // Other methods and paths go on to the upstreams; no catalog yet is a 503.
  config::KeyEntry key;
  EXPECT_FALSE(answerModelsRequest(catalog_.get(), false, "", "/v1/models", key).has_value());
  EXPECT_FALSE(get("/v1/modelsx", key).has_value());
  EXPECT_FALSE(get("/v1/chat/completions", key).has_value());
  auto none = answerModelsRequest(nullptr, true, "", "/v1/models", key);
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(none->status, 503);
}

}  // namespace
}  // namespace fwd::dataplane::models
