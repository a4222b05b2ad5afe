// `fwdctl route ...`: flag parsing into CreateRoute/UpdateRoute requests (model kinds, retry
// list, FieldMask of exactly the given flags), usage errors, golden table/detail/JSON output,
// confirmation lines through a StrictMock, and whole command lines against the fake server.
#include "cli/commands/route.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli/commands/parser.h"
#include "cli/commands/run.h"
#include "tests/unit/cli/cli_test_util.h"
#include "tests/unit/cli/fake_admin_service.h"
#include "tests/unit/cli/mock_admin_api.h"

namespace fwd::cli::commands {
namespace route_test {

using ::testing::_;
using ::testing::ElementsAre;
using ::testing::Return;
using ::testing::StrictMock;

// 2026-11-22T10:00:00Z
constexpr std::int64_t kCreated = 1795341600;

Invocation parseOk(const std::vector<std::string>& args) {
  static const std::vector<CommandSpec> commands = allCommands();
  auto parsed = parseCommandLine(args, commands);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? parsed->invocation : Invocation();
}

std::vector<std::string> maskOf(const std::vector<std::string>& args) {
  auto request = buildUpdateRouteRequest(parseOk(args));
  EXPECT_TRUE(request.ok()) << request.status();
  if (!request.ok()) {
    return {};
  }
  return {request->update_mask().paths().begin(), request->update_mask().paths().end()};
}

fwd::v1::Route fullRoute() {
  fwd::v1::Route r;
  r.set_name("local");
  r.set_path_prefix("/localai");
  r.add_models()->set_exact("gpt-4o");
  r.add_models()->set_keyword("llama");
  r.add_models()->set_glob("qwen*");
  r.add_upstreams("ollama");
  r.add_upstreams("vllm");
  r.set_strategy(fwd::v1::BALANCE_STRATEGY_LEAST_BUSY);
  r.add_fallback_models("gpt-4o-mini");
  r.set_rewrite_model("llama3");
  r.mutable_retry()->set_retries(2);
  r.mutable_retry()->add_retry_on(fwd::v1::RETRY_ON_5XX);
  r.mutable_retry()->add_retry_on(fwd::v1::RETRY_ON_429);
  r.set_priority(-5);
  r.set_id(3);
  r.mutable_create_time()->set_seconds(kCreated);
  r.mutable_update_time()->set_seconds(kCreated + 60);
  return r;
}

fwd::v1::Route bareRoute() {
  fwd::v1::Route r;
  r.set_name("chat");
  r.add_models()->set_exact("gpt-4o");
  r.add_upstreams("openai");
  r.set_id(4);
  return r;
}

TEST(CliRouteTest, AddBuildsTheWholeRoute) {
  // Every flag lands in its field; '*' makes a glob, --model-keyword a keyword, order is kept.
  auto request = buildCreateRouteRequest(parseOk({"route",
                                                  "add",
                                                  "local",
                                                  "--prefix",
                                                  "/localai",
                                                  "--model",
                                                  "gpt-4o",
                                                  "--model",
                                                  "qwen*",
                                                  "--model-keyword",
                                                  "llama",
                                                  "--upstream",
                                                  "ollama",
                                                  "--upstream",
                                                  "vllm",
                                                  "--strategy",
                                                  "least-busy",
                                                  "--fallback",
                                                  "a",
                                                  "--fallback",
                                                  "b",
                                                  "--rewrite-model",
                                                  "llama3",
                                                  "--retries",
                                                  "3",
                                                  "--retry-on",
                                                  "5xx,429,timeout",
                                                  "--priority",
                                                  "-7"}));
  ASSERT_TRUE(request.ok()) << request.status();
  const fwd::v1::Route& r = request->route();
  EXPECT_EQ(r.name(), "local");
  EXPECT_EQ(r.path_prefix(), "/localai");
  ASSERT_EQ(r.models_size(), 3);
  EXPECT_EQ(r.models(0).exact(), "gpt-4o");
  EXPECT_EQ(r.models(1).glob(), "qwen*");
  EXPECT_EQ(r.models(2).keyword(), "llama");
  EXPECT_THAT(r.upstreams(), ElementsAre("ollama", "vllm"));
  EXPECT_EQ(r.strategy(), fwd::v1::BALANCE_STRATEGY_LEAST_BUSY);
  EXPECT_THAT(r.fallback_models(), ElementsAre("a", "b"));
  EXPECT_EQ(r.rewrite_model(), "llama3");
  EXPECT_EQ(r.retry().retries(), 3u);
  EXPECT_THAT(r.retry().retry_on(),
              ElementsAre(fwd::v1::RETRY_ON_5XX, fwd::v1::RETRY_ON_429, fwd::v1::RETRY_ON_TIMEOUT));
  EXPECT_EQ(r.priority(), -7);

  auto minimal =
      buildCreateRouteRequest(parseOk({"route", "add", "m", "--model", "x", "--upstream", "u"}));
  ASSERT_TRUE(minimal.ok());
  EXPECT_EQ(minimal->route().strategy(), fwd::v1::BALANCE_STRATEGY_UNSPECIFIED);
  EXPECT_FALSE(minimal->route().has_retry());
}

TEST(CliRouteTest, UpdateMaskNamesExactlyTheGivenFlags) {
  // The mask lists the given flags in admin.proto order, whatever order they came in.
  EXPECT_THAT(maskOf({"route", "update", "r", "--priority", "1", "--upstream", "a"}),
              ElementsAre("upstreams", "priority"));
  EXPECT_THAT(maskOf({"route", "update", "r", "--model-keyword", "x", "--model", "y"}),
              ElementsAre("models"));
  EXPECT_THAT(maskOf({"route", "update", "r", "--retries", "2"}), ElementsAre("retry.retries"));
  EXPECT_THAT(maskOf({"route", "update", "r", "--retry-on", "connect", "--retries", "1"}),
              ElementsAre("retry.retries", "retry.retry_on"));
  EXPECT_THAT(maskOf({"route", "update", "r", "--clear-prefix", "--clear-models",
                      "--clear-fallbacks", "--clear-rewrite-model", "--clear-retry"}),
              ElementsAre("path_prefix", "models", "fallback_models", "rewrite_model", "retry"));
  auto cleared = buildUpdateRouteRequest(parseOk({"route", "update", "r", "--clear-models"}));
  ASSERT_TRUE(cleared.ok());
  EXPECT_EQ(cleared->route().models_size(), 0);
  EXPECT_EQ(cleared->route().name(), "r");
}

TEST(CliRouteTest, MalformedRouteCommandLinesAreUsageErrors) {
  // Each mistake exits 2 with a line naming the flag, before any connection.
  struct Case {
    std::vector<std::string> args;
    std::string err;
  };
  const Case cases[] = {
      {{"route", "add", "r", "--prefix", "/p"}, "route add needs at least one --upstream NAME"},
      {{"route", "add", "r", "--upstream", "u"},
       "route add needs --prefix or --model/--model-keyword: a route without either would "
       "capture every request"},
      {{"route", "add", "r", "--prefix", "/p", "--upstream", "u", "--strategy", "random"},
       "invalid value \"random\" for --strategy: expected ordered, weighted, least-busy or "
       "latency"},
      {{"route", "add", "r", "--prefix", "/p", "--upstream", "u", "--retries", "1", "--retry-on",
        "5xx,500"},
       "invalid value \"500\" in --retry-on: expected a comma list of 5xx, 429, connect, "
       "timeout"},
      {{"route", "add", "r", "--prefix", "/p", "--upstream", "u", "--retry-on", "5xx"},
       "--retry-on needs --retries N (a retry policy without retries turns failover off)"},
      {{"route", "add", "r", "--prefix", "/p", "--upstream", "u", "--retry-backoff", "1s"},
       "--retry-backoff needs --retries N (a retry policy without retries turns failover off)"},
      {{"route", "add", "r", "--prefix", "/p", "--upstream", "u", "--retries", "-1"},
       "invalid value \"-1\" for --retries: expected a non-negative integer"},
      {{"route", "add", "r", "--prefix", "/p", "--upstream", ""}, "--upstream is empty"},
      {{"route", "add", "r", "--prefix", "/p", "--upstream", "u", "--clear-models"},
       "unknown flag --clear-models for \"route add\" (see fwdctl route --help)"},
      {{"route", "update", "r"},
       "nothing to update: pass at least one of --prefix, --model, --model-keyword, --upstream, "
       "--strategy, --fallback, --rewrite-model, --retries, --retry-on, --retry-backoff, "
       "--retry-backoff-max, --priority, a timeout flag, an edit flag, a limit flag, --shared, "
       "--log-bodies or "
       "a --clear-... flag"},
      {{"route", "update", "r", "--clear-timeouts", "--timeout", "1s"},
       "--clear-timeouts and --timeout cannot be used together"},
      {{"route", "update", "r", "--clear-timeouts", "--idle-timeout", "1s"},
       "--clear-timeouts and --idle-timeout cannot be used together"},
      {{"route", "update", "r", "--clear-retry", "--retry-backoff", "1s"},
       "--clear-retry and --retry-backoff cannot be used together"},
      {{"route", "update", "r", "--retry-backoff-max", "0ms"},
       "--retry-backoff-max must be positive"},
      {{"route", "update", "r", "--first-byte-timeout", "0s"},
       "--first-byte-timeout must be positive"},
      {{"route", "update", "r", "--stream-first-byte-timeout", "fast"},
       "--stream-first-byte-timeout: invalid duration \"fast\": expected a number (write e.g. "
       "500ms, 30s, 2m, 1h, 1m30s)"},
      {{"route", "add", "r", "--prefix", "/p", "--upstream", "u", "--clear-timeouts"},
       "unknown flag --clear-timeouts for \"route add\" (see fwdctl route --help)"},
      {{"route", "update", "r", "--clear-retry", "--retries", "2"},
       "--clear-retry and --retries cannot be used together"},
      {{"route", "update", "r", "--clear-models", "--model-keyword", "x"},
       "--clear-models and --model-keyword cannot be used together"},
      {{"route", "get"}, "missing NAME: usage: fwdctl route get NAME"},
      {{"route", "move", "r"},
       "unknown verb \"move\" for \"route\" (expected one of add, list, get, update, remove)"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = c.args;
    args.push_back("--token=t");
    testing::CliSetup setup;
    testing::CliResult result = testing::runCli(args, setup);
    EXPECT_EQ(result.exit_code, kExitUsage) << c.args[1];
    EXPECT_EQ(result.err, "fwdctl: " + c.err + "\n") << c.args[1];
  }
}

TEST(CliRouteTest, RouteTableAndDetailAreGolden) {
  // Columns padded to the widest cell; keyword matches marked; empty fields as "-"/"*".
  fwd::v1::Route bare = bareRoute();
  bare.clear_models();
  bare.set_path_prefix("/chat");
  EXPECT_EQ(routeTable({fullRoute(), bare}),
            "NAME   PREFIX    MODELS                      UPSTREAMS    STRATEGY    FALLBACKS    "
            "RETRIES       PRIORITY\n"
            "local  /localai  gpt-4o,keyword:llama,qwen*  ollama,vllm  least-busy  gpt-4o-mini  "
            "2 on 5xx,429  -5\n"
            "chat   /chat     *                           openai       ordered     -            "
            "failover      0\n");
  EXPECT_EQ(routeDetail(fullRoute()),
            "name:             local\n"
            "path_prefix:      /localai\n"
            "models:           gpt-4o,keyword:llama,qwen*\n"
            "upstreams:        ollama,vllm\n"
            "strategy:         least-busy\n"
            "fallback_models:  gpt-4o-mini\n"
            "rewrite_model:    llama3\n"
            "retries:          2 on 5xx,429\n"
            "retry_backoff:    25ms (default), at most 1s (default)\n"
            "priority:         -5\n"
            "timeouts:         the upstreams' (default)\n"
            "edits:            -\n"
            "limits:           -\n"
            "log_bodies:       no\n"
            "id:               3\n"
            "created:          2026-11-22T10:00:00Z\n"
            "updated:          2026-11-22T10:01:00Z\n");
}

TEST(CliRouteTest, RouteJsonHasTheDocumentedShapeAndOrder) {
  // Golden JSON object: fixed key order, one-key match objects, lowercase enum names.
  EXPECT_EQ(
      routeJson(fullRoute()).dump(),
      R"({"name":"local","path_prefix":"/localai","models":[{"exact":"gpt-4o"},{"keyword":"llama"},)"
      R"({"glob":"qwen*"}],"upstreams":["ollama","vllm"],"strategy":"least-busy",)"
      R"("fallback_models":["gpt-4o-mini"],"rewrite_model":"llama3",)"
      R"("retry":{"retries":2,"retry_on":["5xx","429"],"backoff_base":"25ms","backoff_max":"1s",)"
      R"("explicit":true},"priority":-5,"timeouts":{"connect":null,"first_byte":null,)"
      R"("stream_first_byte":null,"idle":null,"total":null},"edits":{"max_tokens_cap":null,"stop":[],"drop_empty_messages":null,"strip_think":null,"answer_prefix":null,"stream_mode":null},)"
      R"("limits":{"rate":null,"rate_strategy":null,"max_parallel":null,"tpm":null,)"
      R"("tokens":null},"limits_shared":false,"log_bodies":false,"id":3,)"
      R"("created":"2026-11-22T10:00:00Z","updated":"2026-11-22T10:01:00Z"})");
  EXPECT_EQ(
      routeJson(bareRoute()).dump(),
      R"({"name":"chat","path_prefix":"","models":[{"exact":"gpt-4o"}],)"
      R"("upstreams":["openai"],"strategy":"ordered","fallback_models":[],)"
      R"("rewrite_model":"","retry":{"retries":0,"retry_on":[],"backoff_base":"25ms",)"
      R"("backoff_max":"1s","explicit":false},"priority":0,"timeouts":{"connect":null,)"
      R"("first_byte":null,"stream_first_byte":null,"idle":null,"total":null},"edits":{"max_tokens_cap":null,"stop":[],"drop_empty_messages":null,"strip_think":null,"answer_prefix":null,"stream_mode":null},)"
      R"("limits":{"rate":null,"rate_strategy":null,"max_parallel":null,"tpm":null,)"
      R"("tokens":null},"limits_shared":false,"log_bodies":false,"id":4,)"
      R"("created":null,"updated":null})");
}

TEST(CliRouteTest, TimeoutsBackoffAndAnExplicitZeroRetryPolicy) {
  // --retries 0 sends a present policy (no failover), unlike no retry flag at all; timeout and
  // backoff flags land in their fields, and an update names one path per flag.
  auto zero = buildCreateRouteRequest(
      parseOk({"route", "add", "r", "--prefix", "/p", "--upstream", "u", "--retries", "0"}));
  ASSERT_TRUE(zero.ok()) << zero.status();
  EXPECT_TRUE(zero->route().has_retry());
  EXPECT_EQ(zero->route().retry().retries(), 0u);
  EXPECT_FALSE(zero->route().has_timeouts());
  EXPECT_FALSE(zero->route().log_bodies());

  auto bodies = buildCreateRouteRequest(
      parseOk({"route", "add", "r", "--prefix", "/p", "--upstream", "u", "--log-bodies"}));
  ASSERT_TRUE(bodies.ok()) << bodies.status();
  EXPECT_TRUE(bodies->route().log_bodies());
  EXPECT_EQ(maskOf({"route", "update", "r", "--log-bodies=false"}),
            std::vector<std::string>{"log_bodies"});

  auto tuned = buildCreateRouteRequest(parseOk({"route", "add",
                                                "r",     "--prefix",
                                                "/p",    "--upstream",
                                                "u",     "--retries",
                                                "2",     "--retry-backoff",
                                                "50ms",  "--retry-backoff-max",
                                                "2s",    "--timeout",
                                                "1m",    "--connect-timeout",
                                                "1s",    "--first-byte-timeout",
                                                "20s",   "--stream-first-byte-timeout",
                                                "5s",    "--idle-timeout",
                                                "1500ms"}));
  ASSERT_TRUE(tuned.ok()) << tuned.status();
  const fwd::v1::Route& r = tuned->route();
  EXPECT_EQ(r.retry().backoff_base().nanos(), 50'000'000);
  EXPECT_EQ(r.retry().backoff_max().seconds(), 2);
  EXPECT_EQ(r.timeouts().total().seconds(), 60);
  EXPECT_EQ(r.timeouts().connect().seconds(), 1);
  EXPECT_EQ(r.timeouts().first_byte().seconds(), 20);
  EXPECT_EQ(r.timeouts().stream_first_byte().seconds(), 5);
  EXPECT_EQ(r.timeouts().idle().nanos(), 500'000'000);

  EXPECT_THAT(maskOf({"route", "update", "r", "--timeout", "30s", "--idle-timeout", "5s"}),
              ElementsAre("timeouts.idle", "timeouts.total"));
  EXPECT_THAT(maskOf({"route", "update", "r", "--connect-timeout", "1s", "--first-byte-timeout",
                      "2s", "--stream-first-byte-timeout", "3s"}),
              ElementsAre("timeouts.connect", "timeouts.first_byte", "timeouts.stream_first_byte"));
  EXPECT_THAT(maskOf({"route", "update", "r", "--retry-backoff-max", "1s", "--retries", "0",
                      "--retry-backoff", "100ms"}),
              ElementsAre("retry.retries", "retry.backoff_base", "retry.backoff_max"));
  auto cleared = buildUpdateRouteRequest(parseOk({"route", "update", "r", "--clear-timeouts"}));
  ASSERT_TRUE(cleared.ok());
  EXPECT_THAT(cleared->update_mask().paths(), ElementsAre("timeouts"));
  EXPECT_FALSE(cleared->route().has_timeouts());
  auto zero_update = buildUpdateRouteRequest(parseOk({"route", "update", "r", "--retries", "0"}));
  ASSERT_TRUE(zero_update.ok());
  EXPECT_TRUE(zero_update->route().has_retry());
}

fwd::v1::Route tunedRoute() {
  fwd::v1::Route r = bareRoute();
  r.set_name("tuned");
  r.mutable_retry()->set_retries(0);
  r.mutable_retry()->mutable_backoff_base()->set_nanos(100'000'000);
  r.mutable_timeouts()->mutable_connect()->set_seconds(1);
  r.mutable_timeouts()->mutable_total()->set_seconds(30);
  return r;
}

TEST(CliRouteTest, TimeoutsAndBackoffAreRenderedWithTheirDefaults) {
  // An explicit zero shows as 0, no policy as failover; set backoffs and timeouts plain, the
  // rest marked as defaults or the upstreams'.
  EXPECT_EQ(routeDetail(tunedRoute()),
            "name:             tuned\n"
            "path_prefix:      -\n"
            "models:           gpt-4o\n"
            "upstreams:        openai\n"
            "strategy:         ordered\n"
            "fallback_models:  -\n"
            "rewrite_model:    -\n"
            "retries:          0\n"
            "retry_backoff:    100ms, at most 1s (default)\n"
            "priority:         0\n"
            "timeouts:         connect 1s, total 30s; the rest the upstreams'\n"
            "edits:            -\n"
            "limits:           -\n"
            "log_bodies:       no\n"
            "id:               4\n"
            "created:          -\n"
            "updated:          -\n");
  EXPECT_THAT(routeDetail(bareRoute()), ::testing::HasSubstr("retries:          failover "
                                                             "(default)\n"));
  Json json = routeJson(tunedRoute());
  EXPECT_EQ(json["retry"].dump(),
            R"({"retries":0,"retry_on":[],"backoff_base":"100ms","backoff_max":"1s",)"
            R"("explicit":true})");
  EXPECT_EQ(json["timeouts"].dump(),
            R"({"connect":"1s","first_byte":null,"stream_first_byte":null,"idle":null,)"
            R"("total":"30s"})");
  EXPECT_EQ(routeTable({tunedRoute()}),
            "NAME   PREFIX  MODELS  UPSTREAMS  STRATEGY  FALLBACKS  RETRIES  PRIORITY\n"
            "tuned  -       gpt-4o  openai     ordered   -          0        0\n");
}

class CliRouteRunTest : public ::testing::Test {
 protected:
  testing::CliResult run(const std::vector<std::string>& args) {
    std::vector<std::string> with_token = args;
    with_token.push_back("--token=t0k");
    testing::CliSetup setup;
    setup.connect = testing::connectOnce(std::move(mock_owner_));
    return testing::runCli(with_token, setup);
  }

  std::unique_ptr<StrictMock<testing::MockAdminApi>> mock_owner_ =
      std::make_unique<StrictMock<testing::MockAdminApi>>();
};

TEST_F(CliRouteRunTest, MutationsConfirmAndErrorsKeepTheirExitCodes) {
  // add/update/remove print one line, remove -o json names route and version, and a server
  // refusal exits 1 with its code words.
  fwd::v1::Route route = bareRoute();
  EXPECT_CALL(*mock_owner_, createRoute(_)).WillOnce(Return(route));
  EXPECT_EQ(run({"route", "add", "chat", "--model", "gpt-4o", "--upstream", "openai"}).out,
            "route \"chat\" created\n");

  mock_owner_ = std::make_unique<StrictMock<testing::MockAdminApi>>();
  EXPECT_CALL(*mock_owner_, updateRoute(_)).WillOnce(Return(route));
  EXPECT_EQ(run({"route", "update", "chat", "--priority", "3"}).out, "route \"chat\" updated\n");

  mock_owner_ = std::make_unique<StrictMock<testing::MockAdminApi>>();
  fwd::v1::DeleteRouteResponse deleted;
  deleted.set_version(9);
  EXPECT_CALL(*mock_owner_, deleteRoute(_)).WillRepeatedly(Return(deleted));
  EXPECT_EQ(run({"route", "remove", "chat"}).out, "route \"chat\" removed (config version 9)\n");
  mock_owner_ = std::make_unique<StrictMock<testing::MockAdminApi>>();
  EXPECT_CALL(*mock_owner_, deleteRoute(_)).WillOnce(Return(deleted));
  EXPECT_EQ(run({"route", "remove", "chat", "-o", "json"}).out,
            "{\n  \"removed\": \"chat\",\n  \"version\": 9\n}\n");

  mock_owner_ = std::make_unique<StrictMock<testing::MockAdminApi>>();
  EXPECT_CALL(*mock_owner_, createRoute(_))
      .WillOnce(Return(absl::InvalidArgumentError(
          "route \"r\": upstream \"x\" does not exist (see fwdctl upstream list)")));
  testing::CliResult refused = run({"route", "add", "r", "--prefix", "/p", "--upstream", "x"});
  EXPECT_EQ(refused.exit_code, kExitServerError);
  EXPECT_EQ(refused.err,
            "fwdctl: invalid argument: route \"r\": upstream \"x\" does not exist (see fwdctl "
            "upstream list)\n");
}

class CliRouteEndToEndTest : public ::testing::Test {
 protected:
  testing::CliResult fwdctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--server", server_.address()});
    testing::CliSetup setup;
    setup.connect = client::connectAdmin;
    setup.token_env = "adm-secret";
    return testing::runCli(args, setup);
  }

  testing::FakeAdminServer server_;
  testing::FakeAdminService& fake_ = server_.service();
};

TEST_F(CliRouteEndToEndTest, RouteCommandsReachTheServerOverGrpc) {
  // add/update/list/get/remove send the right RPC with the token, and print what came back.
  testing::FakeAdminService::Responses responses;
  responses.route = fullRoute();
  *responses.routes.add_routes() = fullRoute();
  responses.deleted_route.set_version(7);
  fake_.setResponses(responses);

  testing::CliResult added =
      fwdctl({"route", "add", "local", "--prefix", "/localai", "--upstream", "ollama", "--retries",
              "1", "--retry-on", "connect", "-o", "json"});
  ASSERT_EQ(added.exit_code, kExitOk) << added.err;
  EXPECT_EQ(fake_.lastMethod(), "CreateRoute");
  EXPECT_EQ(fake_.lastAuthorization(), "Bearer adm-secret");
  auto create = fake_.lastRequest<fwd::v1::CreateRouteRequest>();
  EXPECT_EQ(create.route().path_prefix(), "/localai");
  EXPECT_THAT(create.route().retry().retry_on(), ElementsAre(fwd::v1::RETRY_ON_CONNECT));
  auto json = nlohmann::json::parse(added.out);
  EXPECT_EQ(json["strategy"], "least-busy");
  EXPECT_EQ(json["models"][1]["keyword"], "llama");

  ASSERT_EQ(
      fwdctl({"route", "update", "local", "--strategy", "latency", "--fallback", "x"}).exit_code,
      kExitOk);
  EXPECT_EQ(fake_.lastMethod(), "UpdateRoute");
  auto update = fake_.lastRequest<fwd::v1::UpdateRouteRequest>();
  EXPECT_EQ(update.route().name(), "local");
  EXPECT_THAT(update.update_mask().paths(), ElementsAre("strategy", "fallback_models"));

  testing::CliResult list = fwdctl({"route", "list", "-o", "json"});
  EXPECT_EQ(fake_.lastMethod(), "ListRoutes");
  EXPECT_EQ(nlohmann::json::parse(list.out)["routes"][0]["name"], "local");

  testing::CliResult get = fwdctl({"route", "get", "local"});
  EXPECT_EQ(fake_.lastMethod(), "GetRoute");
  EXPECT_EQ(fake_.lastRequest<fwd::v1::GetRouteRequest>().name(), "local");
  EXPECT_EQ(get.out, routeDetail(fullRoute()));

  testing::CliResult removed = fwdctl({"route", "remove", "local"});
  EXPECT_EQ(fake_.lastMethod(), "DeleteRoute");
  EXPECT_EQ(removed.out, "route \"local\" removed (config version 7)\n");
}

TEST_F(CliRouteEndToEndTest, ZeroRetriesAndTimeoutsReachTheServer) {
  // `--retries 0` arrives as a present policy over gRPC; timeout overrides and --clear-timeouts
  // arrive with their paths; JSON output says whether the policy is explicit.
  testing::FakeAdminService::Responses responses;
  responses.route = tunedRoute();
  fake_.setResponses(responses);
  testing::CliResult added = fwdctl(
      {"route", "add", "tuned", "--model", "gpt-4o", "--upstream", "openai", "--retries", "0",
       "--timeout", "30s", "--connect-timeout", "1s", "--retry-backoff", "100ms", "-o", "json"});
  ASSERT_EQ(added.exit_code, kExitOk) << added.err;
  auto create = fake_.lastRequest<fwd::v1::CreateRouteRequest>();
  EXPECT_TRUE(create.route().has_retry());
  EXPECT_EQ(create.route().retry().retries(), 0u);
  EXPECT_EQ(create.route().timeouts().total().seconds(), 30);
  EXPECT_EQ(create.route().retry().backoff_base().nanos(), 100'000'000);
  auto json = nlohmann::json::parse(added.out);
  EXPECT_EQ(json["retry"]["explicit"], true);
  EXPECT_EQ(json["timeouts"]["connect"], "1s");

  ASSERT_EQ(fwdctl({"route", "update", "tuned", "--clear-timeouts", "--idle-timeout=5s"}).exit_code,
            kExitUsage);
  testing::CliResult updated = fwdctl({"route", "update", "tuned", "--clear-timeouts"});
  ASSERT_EQ(updated.exit_code, kExitOk) << updated.err;
  auto update = fake_.lastRequest<fwd::v1::UpdateRouteRequest>();
  EXPECT_THAT(update.update_mask().paths(), ElementsAre("timeouts"));
  EXPECT_FALSE(update.route().has_timeouts());
}

}  // namespace route_test
}  // namespace fwd::cli::commands
