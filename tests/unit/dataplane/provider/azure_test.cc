// The Azure provider: request lines of both API shapes, the credential, probes, and Azure's
// error bodies as OpenAI errors. Targets are compiled from snapshots, as data planes build them.
#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>

#include "dataplane/config/compiled_config.h"
#include "dataplane/provider/provider.h"
#include "dataplane/proxy/client_request.h"

namespace fwd::dataplane::provider {
namespace azure_test {

config::UpstreamTarget compileOne(const std::string& base_url, fwd::v1::Provider provider,
                                  const std::string& api_version = "",
                                  std::map<std::string, std::string> deployments = {}) {
  fwd::v1::Snapshot s;
  fwd::v1::Upstream* u = s.add_upstreams();
  u->set_name("az");
  u->set_base_url(base_url);
  u->set_api_key("k-123");
  u->add_models("*");
  u->set_provider(provider);
  if (provider == fwd::v1::PROVIDER_AZURE) {
    u->mutable_azure()->set_api_version(api_version);
    for (const auto& [model, deployment] : deployments) {
      (*u->mutable_azure()->mutable_deployments())[model] = deployment;
    }
  }
  auto c = config::CompiledConfig::compile(s, [](const std::string&) { return std::nullopt; });
  EXPECT_TRUE(c.ok()) << c.status();
  return (*c)->upstreams().at(0);
}

// The head `t` gets for the client request `message` whose body names `model` (has_model) or
// not.
std::string headFor(const config::UpstreamTarget& t, std::string_view message,
                    std::string_view model, bool has_model) {
  proxy::ClientRequestParser parser;
  boost::beast::error_code ec;
  while (!message.empty() && !parser.is_done() && !ec) {
    message.remove_prefix(parser.put(boost::asio::buffer(message.data(), message.size()), ec));
  }
  EXPECT_FALSE(ec) << ec.message();
  std::string_view target = parser.target();
  OutgoingRequest r{parser, target.substr(3), parser.body(), "", model, has_model};
  std::string out;
  t.provider->writeRequestHead(r, t, out);
  return out;
}

constexpr std::string_view kChat =
    "POST /v1/chat/completions?trace=1&api-version=1999-01-01 HTTP/1.1\r\n"
    "Host: fwd\r\nAuthorization: Bearer fwd-key\r\napi-key: client-key\r\n"
    "Content-Length: 2\r\n\r\n{}";

TEST(AzureProviderTest, ClassicShapeSendsTheDeploymentPathApiVersionAndApiKey) {
  config::UpstreamTarget t =
      compileOne("https://res.openai.azure.com", fwd::v1::PROVIDER_AZURE, "2024-10-21",
                 {{"gpt-4o", "gpt4o-prod"}, {"/v1/audio/speech", "tts"}});
  EXPECT_EQ(t.provider->name(), "azure");
  EXPECT_EQ(headFor(t, kChat, "gpt-4o", true),
            "POST /openai/deployments/gpt4o-prod/chat/completions?trace=1&api-version=2024-10-21 "
            "HTTP/1.1\r\n"
            "Host: res.openai.azure.com\r\napi-key: k-123\r\nContent-Length: 2\r\n\r\n");
  // A model without an entry goes to the deployment of its name, percent-encoded.
  std::string own = headFor(t, kChat, "my model/x", true);
  EXPECT_TRUE(own.starts_with("POST /openai/deployments/my%20model%2Fx/chat/completions?")) << own;
  // A body without a model: the path is the key; endpoints not per deployment go under /openai.
  constexpr std::string_view kSpeech =
      "POST /v1/audio/speech HTTP/1.1\r\nHost: fwd\r\nContent-Length: 0\r\n\r\n";
  EXPECT_TRUE(
      headFor(t, kSpeech, "/v1/audio/speech", false)
          .starts_with("POST /openai/deployments/tts/audio/speech?api-version=2024-10-21 "));
  constexpr std::string_view kFiles = "GET /v1/files?purpose=batch HTTP/1.1\r\nHost: fwd\r\n\r\n";
  EXPECT_TRUE(headFor(t, kFiles, "/v1/files", false)
                  .starts_with("GET /openai/files?purpose=batch&api-version=2024-10-21 HTTP/1.1"));
  constexpr std::string_view kTranscribe =
      "POST /v1/audio/transcriptions HTTP/1.1\r\nHost: fwd\r\nContent-Length: 0\r\n\r\n";
  EXPECT_TRUE(headFor(t, kTranscribe, "/v1/audio/transcriptions", false)
                  .starts_with("POST /openai/audio/transcriptions?api-version=2024-10-21 "));
  EXPECT_EQ(t.provider->probeTarget(t, "/models"), "/openai/models?api-version=2024-10-21");
  EXPECT_FALSE(t.provider->listsModels());

  // A base URL that already ends in /openai (or has a gateway prefix) keeps it once.
  config::UpstreamTarget prefixed =
      compileOne("https://apim.example.com/team-a/openai/", fwd::v1::PROVIDER_AZURE, "2024-06-01");
  EXPECT_TRUE(headFor(prefixed, kChat, "gpt-4o", true)
                  .starts_with("POST /team-a/openai/deployments/gpt-4o/chat/completions?trace=1&"
                               "api-version=2024-06-01 HTTP/1.1\r\n"));
}

TEST(AzureProviderTest, V1ShapeKeepsThePathAndSendsApiVersionOnlyWhenSet) {
  config::UpstreamTarget t =
      compileOne("https://res.openai.azure.com/openai/v1", fwd::v1::PROVIDER_AZURE);
  EXPECT_TRUE(headFor(t, kChat, "gpt-4o", true)
                  .starts_with("POST /openai/v1/chat/completions?trace=1 HTTP/1.1\r\n"));
  EXPECT_EQ(t.provider->probeTarget(t, "/models"), "/openai/v1/models");
  config::UpstreamTarget preview =
      compileOne("https://res.openai.azure.com/openai/v1", fwd::v1::PROVIDER_AZURE, "preview");
  EXPECT_TRUE(headFor(preview, kChat, "gpt-4o", true)
                  .starts_with("POST /openai/v1/chat/completions?trace=1&api-version=preview "));
}

TEST(AzureProviderTest, OpenAiProviderSendsABearerTokenAndThePathAsItCame) {
  config::UpstreamTarget t = compileOne("https://api.openai.com/v1", fwd::v1::PROVIDER_OPENAI);
  EXPECT_EQ(headFor(t, kChat, "gpt-4o", true),
            "POST /v1/chat/completions?trace=1&api-version=1999-01-01 HTTP/1.1\r\n"
            "Host: api.openai.com\r\nAuthorization: Bearer k-123\r\nContent-Length: 2\r\n\r\n");
  EXPECT_TRUE(t.provider->listsModels());
  EXPECT_FALSE(t.provider->rewritesErrors());
  EXPECT_EQ(t.provider->probeTarget(t, "/models"), "/v1/models");
}

TEST(AzureProviderTest, AzureErrorBodiesBecomeOpenAiErrors) {
  config::UpstreamTarget t =
      compileOne("https://res.openai.azure.com", fwd::v1::PROVIDER_AZURE, "2024-10-21");
  ASSERT_TRUE(t.provider->rewritesErrors());
  proxy::ApiError filtered = t.provider->errorAnswer(
      400,
      R"({"error":{"message":"The response was filtered due to the prompt triggering Azure )"
      R"(OpenAI's content management policy.","type":null,"param":"prompt",)"
      R"("code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation"}}})");
  EXPECT_EQ(filtered.status, 400);
  EXPECT_EQ(filtered.type, "invalid_request_error");
  EXPECT_EQ(filtered.code, "content_filter");
  EXPECT_EQ(filtered.param, "prompt");
  EXPECT_TRUE(filtered.message.starts_with("The response was filtered")) << filtered.message;

  proxy::ApiError missing = t.provider->errorAnswer(
      404, R"({"error":{"code":"DeploymentNotFound","message":"The API deployment for this )"
           R"(resource does not exist."}})");
  EXPECT_EQ(missing.type, "not_found_error");
  EXPECT_EQ(missing.code, "DeploymentNotFound");
  EXPECT_EQ(missing.param, "");

  proxy::ApiError denied = t.provider->errorAnswer(
      401, R"({"statusCode":401,"message":"Unauthorized. Access token is missing."})");
  EXPECT_EQ(denied.type, "authentication_error");
  EXPECT_EQ(denied.code, "invalid_api_key");
  EXPECT_EQ(denied.message, "Unauthorized. Access token is missing.");

  proxy::ApiError limited = t.provider->errorAnswer(
      429, R"({"error":{"code":"429","message":"Requests have exceeded the token rate limit."}})");
  EXPECT_EQ(limited.type, "requests");
  EXPECT_EQ(limited.code, "rate_limit_exceeded");

  proxy::ApiError text = t.provider->errorAnswer(403, "Forbidden by policy");
  EXPECT_EQ(text.type, "permission_error");
  EXPECT_EQ(text.message, "Azure OpenAI answered 403: Forbidden by policy");
  EXPECT_EQ(t.provider->errorAnswer(404, "").message, "Azure OpenAI answered 404");
}

}  // namespace azure_test
}  // namespace fwd::dataplane::provider
