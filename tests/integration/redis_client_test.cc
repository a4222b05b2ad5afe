// The data plane's Redis connection against a real redis-server: commands and replies, AUTH and
// SELECT, a command Redis does not answer in time, Redis killed (commands fail fast, nothing
// blocks) and back on the same port (the client reconnects by itself), and redis:// URLs.
#include "dataplane/redis/redis_client.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <chrono>
#include <functional>

#include "tests/integration/harness/redis_server.h"
#include "tests/integration/harness/wait.h"

namespace fwd::dataplane::redis {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

class RedisClientTest : public ::testing::Test {
 protected:
  // Runs the io_context until `done` holds or `limit` passes.
  bool runUntil(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io_.run_for(10ms);
      io_.restart();
    }
    return done();
  }

  // One command, awaited on the io_context.
  Reply call(Client& client, std::vector<std::string> args) {
    std::optional<Reply> got;
    asio::co_spawn(
        io_.get_executor(),
        [&]() -> proxy::Task<void> { got = co_await client.command(std::move(args)); },
        asio::detached);
    runUntil([&] { return got.has_value(); });
    return got.value_or(Reply{});
  }

  std::shared_ptr<Client> connect(const std::string& url, ClientOptions options = {}) {
    auto endpoint = parseRedisUrl(url);
    EXPECT_TRUE(endpoint.ok()) << endpoint.status();
    auto client = Client::create(io_, *endpoint, options);
    client->start();
    EXPECT_TRUE(runUntil([&] { return client->connected(); }));
    return client;
  }

  harness::TempDir dir_;
  harness::RedisServer server_{dir_.path()};
  asio::io_context io_;
};

TEST_F(RedisClientTest, CommandsGetTheirRepliesOnTheDatabaseOfTheUrl) {
  ASSERT_TRUE(server_.start());
  auto client = connect("redis://127.0.0.1:" + std::to_string(server_.port()) + "/3");
  EXPECT_EQ(call(*client, {"SET", "k", "v\r\n\0x"}).type, Reply::Type::kStatus);
  Reply get = call(*client, {"GET", "k"});
  EXPECT_EQ(get.type, Reply::Type::kString);
  EXPECT_EQ(get.text, std::string("v\r\n\0x"));
  EXPECT_EQ(call(*client, {"INCRBY", "n", "5"}).integer, 5);
  EXPECT_EQ(call(*client, {"GET", "missing"}).type, Reply::Type::kNil);
  Reply list = call(*client, {"EVAL", "return {1, 'two', {3}}", "0"});
  ASSERT_EQ(list.type, Reply::Type::kArray);
  ASSERT_EQ(list.elements.size(), 3u);
  EXPECT_EQ(list.elements[1].text, "two");
  Reply error = call(*client, {"NOSUCHCOMMAND"});
  EXPECT_EQ(error.type, Reply::Type::kError);
  EXPECT_TRUE(error.answered());
  // SELECT 3 went first: database 0 has no k.
  auto other = connect("redis://127.0.0.1:" + std::to_string(server_.port()));
  EXPECT_EQ(call(*other, {"GET", "k"}).type, Reply::Type::kNil);
}

TEST_F(RedisClientTest, APasswordIsSentAndAWrongOneRefused) {
  ASSERT_TRUE(server_.start("s3cret"));
  auto client = connect(server_.url());
  EXPECT_EQ(call(*client, {"PING"}).text, "PONG");
  auto endpoint = parseRedisUrl("redis://:wrong@127.0.0.1:" + std::to_string(server_.port()));
  auto wrong = Client::create(io_, *endpoint);
  wrong->start();
  runUntil([&] { return wrong->connected(); });
  Reply r = call(*wrong, {"PING"});
  EXPECT_FALSE(r.answered() && r.type != Reply::Type::kError) << r.text;
}

TEST_F(RedisClientTest, ASlowRedisTimesOutAndADeadOneFailsFastUntilItIsBack) {
  ASSERT_TRUE(server_.start());
  ClientOptions options;
  options.command_timeout = 200ms;
  options.backoff_min = 50ms;
  options.backoff_max = 200ms;
  auto client = connect(server_.url(), options);
  auto slow = connect(server_.url(), options);
  // DEBUG SLEEP holds the server: the command on the other connection gets no answer in time.
  asio::co_spawn(
      io_.get_executor(),
      [&]() -> proxy::Task<void> {
        std::vector<std::string> sleep = {"DEBUG", "SLEEP", "0.6"};
        co_await slow->command(std::move(sleep));
      },
      asio::detached);
  io_.run_for(20ms);
  io_.restart();
  auto started = std::chrono::steady_clock::now();
  Reply late = call(*client, {"PING"});
  EXPECT_FALSE(late.answered());
  EXPECT_EQ(late.text, "redis did not answer in time");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 500ms);
  runUntil([] { return false; }, 700ms);

  server_.kill();
  runUntil([&] { return !client->connected(); });
  started = std::chrono::steady_clock::now();
  Reply down = call(*client, {"PING"});
  EXPECT_FALSE(down.answered());
  EXPECT_LT(std::chrono::steady_clock::now() - started, 100ms);  // no wait on a dead Redis

  ASSERT_TRUE(server_.start());  // the same port
  EXPECT_TRUE(runUntil([&] { return client->connected(); }, 3s));
  EXPECT_EQ(call(*client, {"PING"}).text, "PONG");
  EXPECT_EQ(client->connects(), 2u);
}

TEST(RedisUrlTest, UrlsNameHostPortPasswordAndDatabase) {
  auto e = parseRedisUrl("redis://user:p%40ss@redis.internal:6380/2");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->host, "redis.internal");
  EXPECT_EQ(e->port, "6380");
  EXPECT_EQ(e->user, "user");
  EXPECT_EQ(e->password, "p@ss");
  EXPECT_EQ(e->db, 2);
  auto plain = parseRedisUrl("redis://10.0.0.5");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->port, "6379");
  EXPECT_EQ(plain->db, 0);
  auto v6 = parseRedisUrl("redis://[::1]:7000");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  for (const char* bad : {"http://h:1", "redis://:pw@/0", "redis://h:1/x", "redis://h:0"}) {
    auto r = parseRedisUrl(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(std::string(r.status().message()).find("pw"), std::string::npos);
  }
}

}  // namespace
}  // namespace fwd::dataplane::redis
