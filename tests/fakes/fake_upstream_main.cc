// fake_upstream: a fake OpenAI-compatible LLM server for integration tests and benchmarks.
//
// Flags: --listen HOST:PORT (default 127.0.0.1:0), --name NAME (default "fake"), --threads N,
// --fail-status N (answer every request with N), --stall-ms N (wait N ms before every response
// head), --tls-cert FILE --tls-key FILE (HTTPS),
// --models a,b,c (GET .../models; default "fake-model"), --models-status N (GET .../models answers
// N instead), --models-stall-ms N (GET .../models waits N ms first), --azure-api-key KEY (speak
// Azure OpenAI, see fake_azure.h; the key `api-key` must carry), --azure-deployments
// DEP=MODEL,... (its deployments and the models they run), --dashscope-api-key KEY (speak
// DashScope's native API, see fake_dashscope.h; its models are --models), --replicate-api-key KEY
// (speak Replicate's predictions API, see fake_replicate.h; its models are --models). After binding
// it prints one line to stdout, "listening http|https HOST:PORT", and serves until SIGTERM/SIGINT
// (exit 0).
//
// Endpoints, matched on the path suffix so any base URL prefix works (query string ignored):
//   POST .../chat/completions, POST .../completions   ("stream": true → SSE, 5 chunks default;
//        stream_options.include_usage adds a usage chunk; then data: [DONE])
//   POST .../embeddings            one 8-float vector per input
//   POST .../audio/transcriptions  echoes byte count, sha256 and Content-Type of the raw body
//   GET  .../models                the --models list
//   GET  /_fake/stats              {"name","client_aborts","connections","requests"};
//        POST /_fake/reset zeroes the counts
//   POST /_fake/models             {"models":[...],"status":N,"stall_ms":N}, each optional:
//        what GET .../models answers from now on (status 0: the list again)
//   anything else                  404, OpenAI-shaped error
// Every response carries x-fake-upstream, x-fake-path (target as received), x-fake-authorization,
// x-fake-request-bytes, x-request-id: fake-<n>, openai-processing-ms, x-ratelimit-remaining-*.
//
// Faults, by request header: x-fake-status: N (also JSON "model": "fake-status-N"; 429 adds
// retry-after: 1, or x-fake-retry-after: N), x-fake-stall-ms: N (before the response head),
// x-fake-chunks: N, x-fake-chunk-delay-ms: N (between events), x-fake-events-per-write: N (N
// events to a write, the first with the head; default 1: the head and each event on their own;
// a pause flushes), x-fake-head-bytes: N (pads the response head to ~N bytes with x-fake-pad),
// x-fake-cut-after: K (K events, then the socket is closed: no final chunk, no [DONE]),
// x-fake-close: 1 (close without answering), x-fake-empty: 1 (the status, default 200, with
// Content-Length: 0), x-fake-echo-headers: 1 (200, body {"headers":["name: value",...]}: every
// field as received), x-fake-echo-body: 1 (200, body {"body":"..."}: the request body as
// received, unless x-fake-status asks for an error), x-fake-no-usage: 1 (no usage object, no
// usage chunk), x-fake-tool-calls: 1 (chat answers call get_weather({"city":"Paris"}); a stream
// sends the call's arguments in pieces), x-fake-error-event: 1 (a 200 whose JSON answer, or
// whose stream's first event, is an invalid_request_error context_length_exceeded),
// x-fake-interim: N (an interim N response,
// 100..199, before the answer), x-fake-framing:
// chunked|extensions|trailers|split|close|bad-chunk|cut-mid-chunk|junk-after (how a stream's body
// is framed; see Framing in fake_server.cc).
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/net/host_port.h"
#include "tests/fakes/fake_server.h"

namespace {

constexpr std::string_view kUsage =
    "usage: fake_upstream [--listen HOST:PORT] [--name NAME] [--threads N] [--fail-status N]\n"
    "                     [--stall-ms N]\n"
    "                     [--tls-cert FILE --tls-key FILE] [--models a,b,c]\n"
    "                     [--models-status N] [--models-stall-ms N]\n"
    "                     [--azure-api-key KEY [--azure-deployments DEP=MODEL,...]]\n"
    "                     [--dashscope-api-key KEY] [--replicate-api-key KEY]\n";

int usageError(const std::string& message) {
  std::cerr << "fake_upstream: " << message << "\n" << kUsage;
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  fwd::fakes::FakeConfig config;
  std::string listen = "127.0.0.1:0";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
    std::string value;
    if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return usageError(arg + " needs a value");
    }
    if (arg == "--listen") {
      listen = value;
    } else if (arg == "--name") {
      config.name = value;
    } else if (arg == "--threads") {
      if (!absl::SimpleAtoi(value, &config.threads) || config.threads < 1 || config.threads > 256) {
        return usageError("--threads wants 1..256, got " + value);
      }
    } else if (arg == "--fail-status") {
      if (!absl::SimpleAtoi(value, &config.fail_status) || config.fail_status < 100 ||
          config.fail_status > 599) {
        return usageError("--fail-status wants an HTTP status 100..599, got " + value);
      }
    } else if (arg == "--stall-ms") {
      if (!absl::SimpleAtoi(value, &config.stall_ms) || config.stall_ms < 0 ||
          config.stall_ms > 600000) {
        return usageError("--stall-ms wants 0..600000, got " + value);
      }
    } else if (arg == "--tls-cert") {
      config.tls_cert_file = value;
    } else if (arg == "--tls-key") {
      config.tls_key_file = value;
    } else if (arg == "--models") {
      config.models = absl::StrSplit(value, ',', absl::SkipEmpty());
    } else if (arg == "--models-status") {
      if (!absl::SimpleAtoi(value, &config.models_status) || config.models_status < 100 ||
          config.models_status > 599) {
        return usageError("--models-status wants an HTTP status 100..599, got " + value);
      }
    } else if (arg == "--models-stall-ms") {
      if (!absl::SimpleAtoi(value, &config.models_stall_ms) || config.models_stall_ms < 0 ||
          config.models_stall_ms > 600000) {
        return usageError("--models-stall-ms wants 0..600000, got " + value);
      }
    } else if (arg == "--azure-api-key") {
      config.azure.enabled = true;
      config.azure.api_key = value;
    } else if (arg == "--dashscope-api-key") {
      config.dashscope.enabled = true;
      config.dashscope.api_key = value;
    } else if (arg == "--replicate-api-key") {
      config.replicate.enabled = true;
      config.replicate.api_key = value;
    } else if (arg == "--azure-deployments") {
      for (const std::string& entry :
           std::vector<std::string>(absl::StrSplit(value, ',', absl::SkipEmpty()))) {
        size_t eq = entry.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == entry.size()) {
          return usageError("--azure-deployments wants DEP=MODEL,..., got " + value);
        }
        config.azure.deployments[entry.substr(0, eq)] = entry.substr(eq + 1);
      }
    } else {
      return usageError("unknown flag " + arg);
    }
  }
  auto address = fwd::common::net::parseHostPort(listen);
  if (!address.ok()) {
    return usageError("--listen: " + std::string(address.status().message()));
  }
  fwd::fakes::FakeServer server(config);
  if (auto status = server.listen(address->host, address->port); !status.ok()) {
    std::cerr << "fake_upstream: " << status.message() << "\n";
    return 1;
  }
  std::cout << "listening " << (server.tls() ? "https " : "http ") << server.boundAddress()
            << std::endl;
  server.run();
  return 0;
}
