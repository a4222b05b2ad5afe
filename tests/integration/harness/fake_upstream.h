// Starts tests/fakes/fake_upstream as a child process on 127.0.0.1 port 0 and talks to its
// /_fake/* endpoints, so integration tests can stand up upstreams in one line.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/harness/process.h"

namespace fwd::harness {

class FakeUpstreamProcess {
 public:
  FakeUpstreamProcess() = default;

  /// Starts the fake with --name `name` plus `extra_args` (e.g. {"--fail-status", "503"}) and
  /// waits for its listening line.
  ::testing::AssertionResult start(const std::string& name,
                                   const std::vector<std::string>& extra_args = {});

  std::uint16_t port() const { return port_; }
  bool tls() const { return tls_; }
  /// "http://127.0.0.1:<port>/v1" — the base URL to configure as an upstream.
  std::string baseUrl() const;
  /// Requests served since start or the last reset(); nullopt if /_fake/stats failed.
  std::optional<std::uint64_t> requests() const;
  ::testing::AssertionResult reset() const;

  ChildProcess& process() { return process_; }

 private:
  ChildProcess process_;
  std::uint16_t port_ = 0;
  bool tls_ = false;
};

}  // namespace fwd::harness
