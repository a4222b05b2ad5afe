#include <gtest/gtest.h>

#include "dataplane/proxy/errors.h"
#include "dataplane/proxy/request_rules.h"
#include "dataplane/proxy/upstream_head.h"

namespace fwd::dataplane::proxy {
namespace {

TEST(ProxyRulesTest, ClientCredentialsAndHopByHopHeadersNeverGoUpstream) {
  // The client's key (either header) and connection-level headers are dropped.
  for (const char* h : {"authorization", "api-key", "connection", "keep-alive", "host",
                        "transfer-encoding", "content-length", "upgrade", "te", "expect",
                        "proxy-authorization", "X-Forwarded-For", "x-real-ip", "forwarded"}) {
    EXPECT_TRUE(isDroppedRequestHeader(h)) << h;
  }
  for (const char* h : {"content-type", "openai-organization", "x-request-id", "user-agent",
                        "x-fake-status", "x-forwarded-proto", "x-api-key"}) {
    EXPECT_FALSE(isDroppedRequestHeader(h)) << h;
  }
}

TEST(ProxyRulesTest, UpstreamHeadersClientsUsePassThrough) {
  // Rate-limit, request-id and openai-* headers are relayed; framing headers are not.
  for (const char* h : {"x-request-id", "x-ratelimit-remaining-requests", "openai-processing-ms",
                        "content-type", "retry-after"}) {
    EXPECT_FALSE(isDroppedResponseHeader(h)) << h;
  }
  for (const char* h : {"connection", "transfer-encoding", "content-length", "keep-alive"}) {
    EXPECT_TRUE(isDroppedResponseHeader(h)) << h;
  }
}

TEST(ProxyRulesTest, PathsCannotClimbOutOfTheBasePath) {
  // Dot segments, plain or percent-encoded, are refused.
  EXPECT_TRUE(isSafePath("/v1/chat/completions"));
  EXPECT_TRUE(isSafePath("/v1/files/file-abc.jsonl/content"));
  EXPECT_TRUE(isSafePath("/v1/models/ft:gpt-4o:org..x"));
  EXPECT_FALSE(isSafePath("/v1/../admin"));
  EXPECT_FALSE(isSafePath("/v1/./chat"));
  EXPECT_FALSE(isSafePath("/v1/%2e%2e/admin"));
  EXPECT_FALSE(isSafePath("/v1/%2E./admin"));
  EXPECT_FALSE(isSafePath("/v1/chat/.."));
}

TEST(ProxyRulesTest, ErrorBodiesHaveTheOpenAiShape) {
  // Every field is present; empty param and code become JSON null.
  EXPECT_EQ(errorBody(invalidRequest(404, "nope", "model_not_found", "model")),
            R"({"error":{"code":"model_not_found","message":"nope","param":"model",)"
            R"("type":"invalid_request_error"}})");
  EXPECT_EQ(errorBody(ApiError{502, "api_error", "", "bad \xff byte", ""}),
            "{\"error\":{\"code\":null,\"message\":\"bad \xEF\xBF\xBD byte\",\"param\":null,"
            "\"type\":\"api_error\"}}");
}

}  // namespace
}  // namespace fwd::dataplane::proxy
