// Many requests at once, for races: each on its own connection, all started together from one
// thread (Asio), so none waits for another's answer. Plain HTTP only.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "tests/integration/harness/http_client.h"

namespace fwd::harness {

struct BurstRequest {
  std::string method = "POST";
  std::string target;
  Headers headers;
  std::string body;
};

struct BurstAnswer {
  int status = 0;     // 0: no answer (see error)
  std::string error;  // transport failure
  std::string retry_after;
  std::string body;
};

/// Sends `count` copies of `request`, copy i to targets[i % targets.size()], all connections
/// opened before any answer is read; returns the answers in order.
std::vector<BurstAnswer> burst(const std::vector<Endpoint>& targets, const BurstRequest& request,
                               int count,
                               std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace fwd::harness
