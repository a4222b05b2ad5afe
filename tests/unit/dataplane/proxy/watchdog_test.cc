#include "dataplane/proxy/watchdog.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <thread>
#include <vector>

namespace fwd::dataplane::proxy {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// A connected socket pair on loopback, of the type workers use.
struct Pair {
  explicit Pair(asio::io_context& ioc) : a(ioc), b(ioc) {
    tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    a.connect(acceptor.local_endpoint());
    acceptor.accept(b);
  }
  Socket a;
  Socket b;
};

TEST(WatchdogTest, AnOverdueDeadlineCancelsThePendingReadAndSaysSo) {
  // A read that gets no data is aborted within a few ticks of its deadline, and expired() tells
  // the caller it was a timeout rather than some other cancellation.
  asio::io_context ioc;
  Watchdog watchdog(ioc, std::chrono::milliseconds(10));
  Pair pair(ioc);
  Deadline deadline;
  deadline.bind(watchdog, pair.a);
  deadline.after(std::chrono::milliseconds(30));
  char byte;
  boost::system::error_code result;
  auto start = std::chrono::steady_clock::now();
  pair.a.async_read_some(asio::buffer(&byte, 1), [&](boost::system::error_code ec, size_t) {
    result = ec;
    watchdog.stop();
  });
  watchdog.start();
  ioc.run_for(std::chrono::seconds(5));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(result, asio::error::operation_aborted);
  EXPECT_TRUE(deadline.expired());
  EXPECT_GE(took, std::chrono::milliseconds(30));
  EXPECT_LT(took, std::chrono::seconds(2));
}

TEST(WatchdogTest, ADisarmedOrFutureDeadlineLeavesOperationsAlone) {
  // Only overdue, armed deadlines act; re-arming clears the expired flag; unbinding on
  // destruction stops the watch.
  asio::io_context ioc;
  Watchdog watchdog(ioc, std::chrono::milliseconds(5));
  Pair pair(ioc);
  {
    Deadline scoped;
    scoped.bind(watchdog, pair.b);
    EXPECT_EQ(watchdog.watched(), 1u);
  }
  EXPECT_EQ(watchdog.watched(), 0u);
  Deadline deadline;
  deadline.bind(watchdog, pair.a);
  deadline.after(std::chrono::milliseconds(1));
  deadline.disarm();
  char byte = 0;
  boost::system::error_code result = asio::error::would_block;
  pair.a.async_read_some(asio::buffer(&byte, 1), [&](boost::system::error_code ec, size_t) {
    result = ec;
    watchdog.stop();
  });
  asio::steady_timer later(ioc);
  later.expires_after(std::chrono::milliseconds(60));
  later.async_wait([&](auto) { asio::write(pair.b, asio::buffer("x", 1)); });
  watchdog.start();
  ioc.run_for(std::chrono::seconds(5));
  EXPECT_FALSE(result) << result.message();
  EXPECT_EQ(byte, 'x');
  EXPECT_FALSE(deadline.expired());
}

TEST(WatchdogTest, ATickDelayedByABusyWorkerReportsHowLateItRan) {
  // The sweep's lateness is the time the worker's thread spent elsewhere: a handler that holds
  // the thread for 60 ms makes the next sweep at least ~50 ms late (tick 10 ms), and every
  // sweep reports a lateness, never a negative one.
  asio::io_context ioc;
  Watchdog watchdog(ioc, std::chrono::milliseconds(10));
  std::vector<std::chrono::steady_clock::duration> lates;
  watchdog.onTick([&](auto, auto late) {
    lates.push_back(late);
    if (lates.size() == 6) {
      watchdog.stop();
    }
  });
  asio::steady_timer hog(ioc);
  hog.expires_after(std::chrono::milliseconds(25));
  hog.async_wait([](auto) { std::this_thread::sleep_for(std::chrono::milliseconds(60)); });
  watchdog.start();
  ioc.run_for(std::chrono::seconds(5));
  ASSERT_EQ(lates.size(), 6u);
  auto worst = *std::max_element(lates.begin(), lates.end());
  EXPECT_GE(worst, std::chrono::milliseconds(45));
  EXPECT_LT(worst, std::chrono::seconds(2));
  for (auto late : lates) {
    EXPECT_GE(late, std::chrono::steady_clock::duration::zero());
  }
}

}  // namespace
}  // namespace fwd::dataplane::proxy
