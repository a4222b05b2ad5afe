// A real redis-server (Debian's) for tests: started on a free loopback port with its data in a
// temp dir and no persistence, stopped (and restartable on the same port, to test what happens
// when Redis goes away and comes back) by the test.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>

#include "tests/integration/harness/process.h"

namespace fwd::harness {

class RedisServer {
 public:
  explicit RedisServer(std::string dir) : dir_(std::move(dir)) {}

  /// Starts redis-server on a free port (or the port it had before), with `password` when not
  /// empty; waits until it accepts connections.
  ::testing::AssertionResult start(const std::string& password = "");
  /// Kills it (SIGKILL: as a crash would).
  void kill();
  std::uint16_t port() const { return port_; }
  /// redis://[:password@]127.0.0.1:PORT/0
  std::string url() const;

 private:
  std::string dir_;
  std::string password_;
  std::uint16_t port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace fwd::harness
