#include "dataplane/models/model_fetcher.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "tests/unit/dataplane/scripted_http_server.h"

namespace fwd::dataplane::models {
namespace {

using std::chrono::milliseconds;
using test_support::ScriptedHttpServer;
using Ids = std::vector<std::string>;

config::CompiledConfigConstSharedPtr configFor(const std::string& base_url,
                                               std::uint64_t version = 1) {
  fwd::v1::Snapshot s;
  s.set_version(version);
  auto* u = s.add_upstreams();
  u->set_name("a");
  u->set_base_url(base_url);
  u->add_models("m-*");
  u->add_models("m-literal");
  u->set_api_key("sk-a");
  auto c = config::CompiledConfig::compile(s, [](const std::string&) { return std::nullopt; });
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

Ids ids(const CatalogConstSharedPtr& c) {
  Ids out;
  if (c) {
    for (const Model& m : c->models("")) {
      out.push_back(m.id);
    }
  }
  return out;
}

// Runs a fetcher and records what it publishes.
class ModelFetcherTest : public ::testing::Test {
 protected:
  void startFetcher(ModelFetcher::Options options) {
    fetcher_ = std::make_unique<ModelFetcher>(
        options, metrics_,
        [this](CatalogConstSharedPtr c) {
          std::lock_guard<std::mutex> lock(mu_);
          published_ = std::move(c);
          changed_.notify_all();
        },
        tls_);
    fetcher_->start();
  }

  void TearDown() override { fetcher_.reset(); }

  // Waits until the last published catalog lists `want`.
  ::testing::AssertionResult waitPublished(const Ids& want, milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    if (changed_.wait_for(lock, timeout, [&] { return ids(published_) == want; })) {
      return ::testing::AssertionSuccess();
    }
    ::testing::AssertionResult failure = ::testing::AssertionFailure();
    failure << "last published:";
    for (const auto& id : ids(published_)) {
      failure << " " << id;
    }
    return failure;
  }

  double fetches(const std::string& outcome) {
    return metrics_.model_fetches.Add({{"upstream", "a"}, {"outcome", outcome}}).Value();
  }

  ::testing::AssertionResult waitFetches(const std::string& outcome, double n,
                                         milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (fetches(outcome) < n) {
      if (std::chrono::steady_clock::now() > deadline) {
        return ::testing::AssertionFailure() << "no " << outcome << " fetch";
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
    return ::testing::AssertionSuccess();
  }

  metrics::Metrics metrics_{1};
  probe::TlsClientContexts tls_;
  std::unique_ptr<ModelFetcher> fetcher_;
  std::mutex mu_;
  std::condition_variable changed_;
  CatalogConstSharedPtr published_;
};

TEST_F(ModelFetcherTest, PublishesServedModelsAndKeepsThemWhenAFetchFails) {
  // The upstream's list joins the catalog (only the ids it serves); a later 503 changes nothing
  // but the metric, and a new config keeps the list.
  std::atomic<int> status{200};
  ScriptedHttpServer server([&](int fd, const std::string&, const std::atomic<bool>&) {
    ScriptedHttpServer::sendAll(
        fd, ScriptedHttpServer::response(
                status, R"({"object":"list","data":[{"id":"m-1"},{"id":"other"}]})"));
  });
  startFetcher({.refresh = milliseconds(100), .retry_after_failure = milliseconds(100)});
  CatalogConstSharedPtr first = fetcher_->applyConfig(configFor(server.baseUrl()));
  EXPECT_EQ(ids(first), (Ids{"m-literal"}));  // built before any fetch answered
  ASSERT_TRUE(waitPublished({"m-1", "m-literal"}, milliseconds(5'000)));
  EXPECT_GE(fetches("ok"), 1);
  ASSERT_FALSE(server.heads().empty());
  EXPECT_EQ(server.heads()[0].rfind("GET /v1/models HTTP/1.1\r\n", 0), 0u);
  EXPECT_NE(server.heads()[0].find("Authorization: Bearer sk-a\r\n"), std::string::npos);

  status = 503;
  ASSERT_TRUE(waitFetches("http_error", 1, milliseconds(5'000)));
  EXPECT_EQ(ids(fetcher_->applyConfig(configFor(server.baseUrl(), 2))), (Ids{"m-1", "m-literal"}));
}

TEST_F(ModelFetcherTest, AStalledFetchTimesOutWithoutHoldingUpTheConfig) {
  // While a fetch hangs, a new config still gets its catalog at once; the fetch ends as a
  // timeout and the configured names stay listed.
  ScriptedHttpServer server([](int, const std::string&, const std::atomic<bool>& stopping) {
    ScriptedHttpServer::stall(stopping, milliseconds(10'000));
  });
  startFetcher({.refresh = milliseconds(60'000), .timeout = milliseconds(1'500)});
  fetcher_->applyConfig(configFor(server.baseUrl()));
  // Wait until the fetch is in flight (the server has its head), then apply another config.
  auto deadline = std::chrono::steady_clock::now() + milliseconds(5'000);
  while (server.heads().empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_FALSE(server.heads().empty());
  auto start = std::chrono::steady_clock::now();
  CatalogConstSharedPtr during = fetcher_->applyConfig(configFor(server.baseUrl(), 2));
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(750));
  EXPECT_EQ(ids(during), (Ids{"m-literal"}));
  EXPECT_TRUE(waitFetches("timeout", 1, milliseconds(5'000)));
}

TEST_F(ModelFetcherTest, AnotherUrlForgetsTheOldList) {
  // When an upstream's base URL changes, the old server's list no longer describes it.
  ScriptedHttpServer server([](int fd, const std::string&, const std::atomic<bool>&) {
    ScriptedHttpServer::sendAll(fd,
                                ScriptedHttpServer::response(200, R"({"data":[{"id":"m-1"}]})"));
  });
  startFetcher({.refresh = milliseconds(60'000)});
  fetcher_->applyConfig(configFor(server.baseUrl()));
  ASSERT_TRUE(waitPublished({"m-1", "m-literal"}, milliseconds(5'000)));
  CatalogConstSharedPtr moved = fetcher_->applyConfig(configFor(server.baseUrl("/v2"), 2));
  EXPECT_EQ(ids(moved), (Ids{"m-literal"}));
}

}  // namespace
}  // namespace fwd::dataplane::models
