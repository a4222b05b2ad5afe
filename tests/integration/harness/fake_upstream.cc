// FakeUpstreamProcess: one fake_upstream child per instance.
#include "tests/integration/harness/fake_upstream.h"

#include <algorithm>
#include <charconv>
#include <chrono>

#include "tests/integration/harness/binaries.h"
#include "tests/integration/harness/http_client.h"

namespace fwd::harness {

::testing::AssertionResult FakeUpstreamProcess::start(const std::string& name,
                                                      const std::vector<std::string>& extra_args) {
  std::vector<std::string> args = {"--listen", "127.0.0.1:0", "--name", name};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  tls_ = std::find(args.begin(), args.end(), "--tls-cert") != args.end();
  process_.setName("fake_upstream:" + name);
  if (auto started = process_.start(FAKE_UPSTREAM_BIN, args); !started) {
    return started;
  }
  std::optional<std::uint16_t> port =
      process_.waitForListening(tls_ ? "https" : "http", std::chrono::seconds(10));
  if (!port) {
    return ::testing::AssertionFailure()
           << "fake_upstream " << name << " printed no listening line; stderr:\n"
           << process_.stderrText();
  }
  port_ = *port;
  return ::testing::AssertionSuccess();
}

std::string FakeUpstreamProcess::baseUrl() const {
  return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) + "/v1";
}

std::optional<std::uint64_t> FakeUpstreamProcess::requests() const {
  Response response = httpRequest(Endpoint{"127.0.0.1", port_, tls_}, "GET", "/_fake/stats");
  if (response.status != 200) {
    return std::nullopt;
  }
  // {"name":"...","requests":N}: the number follows the last colon.
  size_t colon = response.body.rfind(':');
  if (colon == std::string::npos) {
    return std::nullopt;
  }
  std::uint64_t value = 0;
  const char* begin = response.body.data() + colon + 1;
  auto [end, ec] = std::from_chars(begin, response.body.data() + response.body.size(), value);
  if (ec != std::errc()) {
    return std::nullopt;
  }
  return value;
}

::testing::AssertionResult FakeUpstreamProcess::reset() const {
  Response response = httpRequest(Endpoint{"127.0.0.1", port_, tls_}, "POST", "/_fake/reset");
  if (response.status != 200) {
    return ::testing::AssertionFailure()
           << "POST /_fake/reset: status " << response.status << " " << response.error;
  }
  return ::testing::AssertionSuccess();
}

}  // namespace fwd::harness
