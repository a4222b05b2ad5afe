// fwd-dataplane: parses flags and wires the parts together — config (state dir + control
// plane watch), traffic server, admin listener — then waits for SIGTERM/SIGINT to drain.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/config/duration.h"
#include "common/log/log.h"
#include "common/net/grpc_tls.h"
#include "common/net/host_port.h"
#include "dataplane/config/compiled_config.h"
#include "dataplane/config/control_plane_client.h"
#include "dataplane/config/node_report.h"
#include "dataplane/config/snapshot_file.h"
#include "dataplane/health/health_checker.h"
#include "dataplane/metrics/metrics.h"
#include "dataplane/models/model_fetcher.h"
#include "dataplane/records/recorder.h"
#include "dataplane/server/admin_server.h"
#include "dataplane/server/server.h"

namespace {

using namespace fwd;

constexpr char kUsage[] = R"(usage: fwd-dataplane [flags]

Serves the OpenAI-compatible API on --listen and forwards every /v1/* request to the upstreams
its control plane configures. Keeps serving its last good config when the control plane is away.

  --control-plane HOST:PORT      control plane gRPC address          (default 127.0.0.1:7070)
  --node-token-file FILE         file holding the node token     (default ./fwd-data/node.token)
  --control-plane-ca FILE        reach the control plane over TLS, trusting this CA (PEM)
  --control-plane-tls            the same, trusting the system's CA store
  --control-plane-cert FILE      client certificate for a control plane that requires mTLS ...
  --control-plane-key FILE       ... and its key
  --control-plane-insecure       allow plaintext to a control plane that is not on loopback
  --listen HOST:PORT             client traffic (HTTP/1.1)               (default 0.0.0.0:8000)
  --tls-cert FILE                serve --listen over TLS with this certificate (PEM, chain
  --tls-key FILE                 after the leaf) and key; without both: plain HTTP
  --admin-listen HOST:PORT       /metrics /healthz /readyz             (default 127.0.0.1:9090)
  --state-dir DIR                last good snapshot is kept here          (default ./fwd-state)
  --node-id ID                   identity shown by `fwdctl status`          (default: hostname)
  --workers N                    worker threads, one event loop each       (default: CPU count)
  --max-body-bytes N             request body limit, 413 above   (default 33554432 = 32 MiB)
  --max-header-bytes N           request line + headers, 431 above   (default 65536 = 64 KiB)
  --max-request-line-bytes N     method + target + version, 414 above          (default 8192)
  --max-header-fields N          header fields per request, 431 above           (default 100)
  --header-timeout DURATION      a connection's first request head must arrive within this;
                                 408 if it had started, else the connection closes (default 10s)
  --keepalive-timeout DURATION   idle time allowed between keep-alive requests  (default 60s)
  --body-timeout DURATION        the request body must arrive within this; 408 (default 120s)
  --drain-grace DURATION         on SIGTERM, /readyz fails at once but the listener keeps
                                 serving (answers say Connection: close) this long (default 5s)
  --drain-timeout DURATION       then the listener closes and requests in flight get this long
                                 to finish                                      (default 30s)
  --models-refresh DURATION      how often upstreams' GET /models lists are fetched for
                                 GET /v1/models; 0: never, list configured names only (default 5m)
  --records MODE                 central: send a record of every request to the control plane
                                 (spilled to --state-dir while it is away); off    (default central)
  --records-queue N              records waiting per worker before new ones are dropped
                                                                                (default 4096)
  --records-spill-max-bytes N    the spill file's limit; past it records are dropped
                                                                   (default 268435456 = 256 MiB)
  --log-body-max-bytes N         each body kept (records of a route or key with log_bodies,
                                 the JSONL files) is cut to this, at most 1 MiB (default 65536)
  --jsonl-dir DIR                write client_interaction.jsonl and server_interaction.jsonl
                                 there: every request, with its bodies          (default: none)
  --jsonl-max-bytes N            a JSONL file is rotated before it passes this, and each day
                                                                   (default 134217728 = 128 MiB)
  --metrics-key-label            fwd_tokens_total, fwd_cost_usd_total and
                                 fwd_usage_estimated_requests_total also get a key label
                                 (a series per key: watch the cardinality)   (default: none)
  --log-level LEVEL              debug|info|warn|error                          (default info)
  --help                         this text

Port 0 picks a free port; the bound addresses are printed on stdout as
"listening http HOST:PORT" ("listening https ..." with --tls-cert) and "listening admin HOST:PORT".
)";

[[noreturn]] void usageError(const std::string& message) {
  std::cerr << "fwd-dataplane: " << message << "\n(run fwd-dataplane --help for usage)\n";
  std::exit(2);
}

struct Flags {
  std::string control_plane = "127.0.0.1:7070";
  std::string node_token_file = "./fwd-data/node.token";
  common::net::ClientTls control_plane_tls;
  std::string listen = "0.0.0.0:8000";
  std::string tls_cert;
  std::string tls_key;
  std::string admin_listen = "127.0.0.1:9090";
  std::string state_dir = "./fwd-state";
  std::string node_id;
  size_t workers = 0;
  size_t max_body_bytes = 32u << 20;
  dataplane::proxy::ProxyOptions limits;  // the head limits and client timeouts
  std::chrono::milliseconds drain_grace{5'000};
  std::chrono::milliseconds drain_timeout{30'000};
  std::chrono::milliseconds models_refresh{5 * 60'000};
  std::string records = "central";
  size_t records_queue = 4096;
  std::uint64_t records_spill_max_bytes = 256u << 20;
  size_t log_body_max_bytes = 64u << 10;
  std::string jsonl_dir;
  std::uint64_t jsonl_max_bytes = 128u << 20;
  bool metrics_key_label = false;
  std::string log_level = "info";
};

size_t parseCount(const std::string& flag, const std::string& value, size_t min, size_t max) {
  size_t n = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || ptr != value.data() + value.size() || n < min || n > max) {
    usageError(flag + " must be a whole number from " + std::to_string(min) + " to " +
               std::to_string(max) + ", got \"" + value + "\"");
  }
  return n;
}

std::chrono::milliseconds parseDurationFlag(const std::string& flag, const std::string& value) {
  auto d = common::config::parseDuration(value);
  if (!d.ok()) {
    usageError(flag + ": " + std::string(d.status().message()));
  }
  return *d;
}

// A client timeout: at least 100ms (the deadline sweep's precision), at most 1h.
std::chrono::milliseconds parseTimeout(const std::string& flag, const std::string& value) {
  auto d = parseDurationFlag(flag, value);
  if (d < std::chrono::milliseconds(100) || d > std::chrono::hours(1)) {
    usageError(flag + " must be from 100ms to 1h, got " + value);
  }
  return d;
}

// "0" (no fetching) or a duration of at least 100ms, so a typo cannot hammer the upstreams.
std::chrono::milliseconds parseRefresh(const std::string& value) {
  if (value == "0") {
    return std::chrono::milliseconds(0);
  }
  auto d = parseDurationFlag("--models-refresh", value);
  if (d.count() != 0 && d < std::chrono::milliseconds(100)) {
    usageError("--models-refresh must be 0 (off) or at least 100ms, got " + value);
  }
  return d;
}

Flags parseFlags(int argc, char** argv) {
  Flags f;
  std::map<std::string, std::string*> strings = {
      {"--control-plane", &f.control_plane},
      {"--control-plane-ca", &f.control_plane_tls.ca_file},
      {"--control-plane-cert", &f.control_plane_tls.cert_file},
      {"--control-plane-key", &f.control_plane_tls.key_file},
      {"--tls-cert", &f.tls_cert},
      {"--tls-key", &f.tls_key},
      {"--node-token-file", &f.node_token_file},
      {"--listen", &f.listen},
      {"--admin-listen", &f.admin_listen},
      {"--state-dir", &f.state_dir},
      {"--node-id", &f.node_id},
      {"--records", &f.records},
      {"--jsonl-dir", &f.jsonl_dir},
      {"--log-level", &f.log_level}};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      std::exit(0);
    }
    if (arg == "--control-plane-tls") {
      f.control_plane_tls.tls = true;
      continue;
    }
    if (arg == "--control-plane-insecure") {
      f.control_plane_tls.allow_plaintext = true;
      continue;
    }
    if (arg == "--metrics-key-label") {
      f.metrics_key_label = true;
      continue;
    }
    std::string value;
    if (auto eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      usageError("flag " + arg + " needs a value");
    }
    if (auto it = strings.find(arg); it != strings.end()) {
      *it->second = value;
    } else if (arg == "--workers") {
      f.workers = parseCount(arg, value, 1, 256);
    } else if (arg == "--max-body-bytes") {
      f.max_body_bytes = parseCount(arg, value, 1024, size_t{1} << 32);
    } else if (arg == "--max-header-bytes") {
      f.limits.max_header_bytes = parseCount(arg, value, 1024, 1u << 20);
    } else if (arg == "--max-request-line-bytes") {
      f.limits.head_limits.max_request_line = parseCount(arg, value, 256, 1u << 20);
    } else if (arg == "--max-header-fields") {
      f.limits.head_limits.max_fields = parseCount(arg, value, 8, 10000);
    } else if (arg == "--header-timeout") {
      f.limits.header_timeout = parseTimeout(arg, value);
    } else if (arg == "--keepalive-timeout") {
      f.limits.idle_timeout = parseTimeout(arg, value);
    } else if (arg == "--body-timeout") {
      f.limits.body_timeout = parseTimeout(arg, value);
    } else if (arg == "--drain-grace") {
      f.drain_grace = parseDurationFlag(arg, value);
    } else if (arg == "--drain-timeout") {
      f.drain_timeout = parseDurationFlag(arg, value);
    } else if (arg == "--models-refresh") {
      f.models_refresh = parseRefresh(value);
    } else if (arg == "--records-queue") {
      f.records_queue = parseCount(arg, value, 16, 1u << 20);
    } else if (arg == "--records-spill-max-bytes") {
      f.records_spill_max_bytes = parseCount(arg, value, 0, std::uint64_t{1} << 40);
    } else if (arg == "--log-body-max-bytes") {
      f.log_body_max_bytes = parseCount(arg, value, 0, 1u << 20);
    } else if (arg == "--jsonl-max-bytes") {
      f.jsonl_max_bytes = parseCount(arg, value, 4096, std::uint64_t{1} << 40);
    } else {
      usageError("unknown flag " + arg);
    }
  }
  return f;
}

std::string readToken(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    usageError("cannot read the node token file " + path +
               " (the control plane writes it to DATA_DIR/node.token on first start; pass "
               "--node-token-file)");
  }
  std::string token;
  std::getline(in, token);
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) {
    token.pop_back();
  }
  if (token.empty()) {
    usageError("node token file " + path + " is empty");
  }
  return token;
}

std::string hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') {
    return "dataplane";
  }
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags = parseFlags(argc, argv);
  common::log::Level level;
  if (!common::log::parseLevel(flags.log_level, level)) {
    usageError("--log-level must be debug, info, warn or error");
  }
  common::log::setLevel(level);
  auto listen = common::net::parseHostPort(flags.listen);
  auto admin_listen = common::net::parseHostPort(flags.admin_listen);
  if (!listen.ok() || !admin_listen.ok()) {
    usageError(std::string((!listen.ok() ? listen.status() : admin_listen.status()).message()));
  }
  if (flags.records != "central" && flags.records != "off") {
    usageError("--records must be central or off, got \"" + flags.records + "\"");
  }
  if (!flags.jsonl_dir.empty()) {
    std::error_code dir_error;
    std::filesystem::create_directories(flags.jsonl_dir, dir_error);
    if (dir_error || ::access(flags.jsonl_dir.c_str(), W_OK | X_OK) != 0) {
      usageError("--jsonl-dir " + flags.jsonl_dir + " cannot be written" +
                 (dir_error ? ": " + dir_error.message() : std::string()));
    }
  }
  if (!common::net::parseHostPort(flags.control_plane).ok()) {
    usageError(std::string(common::net::parseHostPort(flags.control_plane).status().message()));
  }
  auto control_plane_credentials =
      common::net::channelCredentials(flags.control_plane_tls, flags.control_plane);
  if (!control_plane_credentials.ok()) {
    usageError("--control-plane " + flags.control_plane + ": " +
               std::string(control_plane_credentials.status().message()) +
               " (--control-plane-ca FILE, or --control-plane-insecure)");
  }
  std::string node_token = readToken(flags.node_token_file);
  if (flags.node_id.empty()) {
    flags.node_id = hostname();
  }
  size_t workers =
      flags.workers != 0 ? flags.workers : std::max<size_t>(1, std::thread::hardware_concurrency());

  // Every thread created from here on inherits this mask; main receives the signals by sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  // A file size limit (ulimit -f) makes a write fail with EFBIG instead of killing the process.
  ::signal(SIGXFSZ, SIG_IGN);

  dataplane::metrics::Metrics metrics(workers, flags.metrics_key_label);
  std::unique_ptr<boost::asio::ssl::context> server_tls;
  if (!flags.tls_cert.empty() || !flags.tls_key.empty()) {
    if (flags.tls_cert.empty() || flags.tls_key.empty()) {
      usageError("--tls-cert and --tls-key go together");
    }
    auto ctx = dataplane::server::serverTlsContext(flags.tls_cert, flags.tls_key);
    if (!ctx.ok()) {
      usageError(std::string(ctx.status().message()));
    }
    server_tls = std::move(*ctx);
  }
  dataplane::proxy::ProxyOptions options = flags.limits;
  options.max_body_bytes = flags.max_body_bytes;
  // One TLS client setup (the system CA store is loaded once) for the proxy, the model fetcher
  // and the health checker.
  dataplane::probe::TlsClientContexts tls;
  dataplane::server::Server server(workers, options, metrics, tls, server_tls.get());
  std::atomic<bool> ready{false};
  std::atomic<bool> draining{false};
  dataplane::server::AdminServer admin(metrics, [&] { return ready.load() && !draining.load(); });

  auto bound = server.listen(*listen);
  if (!bound.ok()) {
    std::cerr << "fwd-dataplane: " << bound.status().message() << "\n";
    return 1;
  }
  auto admin_bound = admin.listen(*admin_listen);
  if (!admin_bound.ok()) {
    std::cerr << "fwd-dataplane: " << admin_bound.status().message() << "\n";
    return 1;
  }

  // The model catalog behind GET /v1/models: built and refreshed on the fetcher's own thread.
  dataplane::models::ModelFetcher model_fetcher(
      {.refresh = flags.models_refresh}, metrics,
      [&](dataplane::models::CatalogConstSharedPtr c) { server.publishModels(std::move(c)); }, tls);
  model_fetcher.start();
  dataplane::health::HealthChecker health_checker(*metrics.registry(), tls);
  health_checker.start();

  dataplane::config::SnapshotFile state(flags.state_dir);
  // Request records: workers hand them to the recorder, whose thread sends them on.
  std::unique_ptr<dataplane::records::Recorder> recorder;
  if (flags.records == "central" || !flags.jsonl_dir.empty()) {
    std::error_code dir_error;
    std::filesystem::create_directories(flags.state_dir, dir_error);
    recorder = std::make_unique<dataplane::records::Recorder>(
        dataplane::records::Recorder::Options{
            .central = flags.records == "central",
            .workers = workers,
            .ring_capacity = flags.records_queue,
            .node_id = flags.node_id,
            .address = flags.control_plane,
            .credentials = *control_plane_credentials,
            .node_token = node_token,
            .spill_path = (std::filesystem::path(flags.state_dir) / "records.spill").string(),
            .spill_max_bytes = flags.records_spill_max_bytes,
            .jsonl_dir = flags.jsonl_dir,
            .jsonl_max_bytes = flags.jsonl_max_bytes,
            .body_max_bytes = flags.log_body_max_bytes},
        *metrics.registry());
    recorder->start();
  }
  auto env = dataplane::config::processEnv();
  dataplane::config::UpstreamHealthRegistry health;      // outlives every config version
  dataplane::ratelimit::CounterRegistry limit_counters;  // so does every limit's count
  // The config in force, for the NodeReport; the IO workers have their own copy (publish).
  std::mutex in_force_mu;  // guards in_force: set by apply, read by the report
  dataplane::config::CompiledConfigConstSharedPtr in_force;
  auto config_in_force = [&] {
    std::lock_guard<std::mutex> lock(in_force_mu);
    return in_force;
  };
  // fwd_upstream_ejected, from the same per-upstream state the Watch stream reports.
  metrics.scrape_time_families = [&] {
    auto config = config_in_force();
    auto report =
        dataplane::config::buildNodeReport(config.get(), health, std::chrono::steady_clock::now());
    return std::vector<prometheus::MetricFamily>{
        dataplane::metrics::ejectedFamily({report.upstreams().begin(), report.upstreams().end()})};
  };
  // Called on the config thread (or main, at start): compile off the IO threads, then publish.
  auto apply = [&](const fwd::v1::Snapshot& snapshot, bool save) -> absl::Status {
    auto compiled = dataplane::config::CompiledConfig::compile(snapshot, env, &health,
                                                               &limit_counters, recorder.get());
    if (!compiled.ok()) {
      metrics.snapshots_rejected.Increment();
      return compiled.status();
    }
    if (const auto& redis = (*compiled)->redis(); !redis.problem.empty()) {
      FWD_LOG(kWarn, "limits") << "cannot count limits in Redis: " << redis.problem
                               << "; limited keys are served as while Redis is down";
    }
    server.publish(*compiled, model_fetcher.applyConfig(*compiled));
    health_checker.update(*compiled);
    {
      std::lock_guard<std::mutex> lock(in_force_mu);
      in_force = *compiled;
    }
    metrics.snapshots_applied.Increment();
    metrics.config_version.Set(static_cast<double>(snapshot.version()));
    metrics.ready.Set(1);
    ready = true;
    FWD_LOG(kInfo, "dataplane") << "config version " << snapshot.version() << " in force ("
                                << snapshot.upstreams_size() << " upstreams, "
                                << snapshot.keys_size() << " keys)";
    if (save) {
      if (auto s = state.save(snapshot); !s.ok()) {
        FWD_LOG(kWarn, "dataplane") << "could not persist the snapshot: " << s.message();
      }
    }
    return absl::OkStatus();
  };

  std::uint64_t start_version = 0;
  if (auto saved = state.load(); saved.ok()) {
    if (auto s = apply(*saved, false); s.ok()) {
      start_version = saved->version();
      FWD_LOG(kInfo, "dataplane") << "serving saved config version " << start_version << " from "
                                  << state.path() << " until the control plane answers";
    } else {
      FWD_LOG(kWarn, "dataplane") << "ignoring saved snapshot " << state.path() << ": "
                                  << s.message();
    }
  } else if (saved.status().code() != absl::StatusCode::kNotFound) {
    FWD_LOG(kWarn, "dataplane") << saved.status().message();
  }

  server.start();
  admin.start();
  std::cout << (server_tls ? "listening https " : "listening http ") << bound->toString() << "\n"
            << "listening admin " << admin_bound->toString() << std::endl;

  dataplane::config::ControlPlaneClient client(
      {.address = flags.control_plane,
       .credentials = *control_plane_credentials,
       .node_token = node_token,
       .node_id = flags.node_id,
       .build_version = FWD_VERSION,
       // On the client's threads, at most once a second: never on a worker.
       .report =
           [&] {
             auto config = config_in_force();
             return dataplane::config::buildNodeReport(config.get(), health,
                                                       std::chrono::steady_clock::now());
           },
       // fwdctl key get: read on a worker, answered from there (never blocking it).
       .limits_query =
           [&](const fwd::v1::LimitsQuery& query,
               dataplane::config::ControlPlaneClient::AnswerFn answer) {
             server.readKeyLimits(query.key_id(), [id = query.id(), answer = std::move(answer)](
                                                      fwd::v1::LimitsAnswer a) {
               a.set_id(id);
               answer(std::move(a));
             });
           }},
      [&](const fwd::v1::Snapshot& s) { return apply(s, true); },
      [&](bool connected) { metrics.control_plane_connected.Set(connected ? 1 : 0); });
  client.start(start_version);

  int sig = 0;
  sigwait(&signals, &sig);
  FWD_LOG(kInfo, "dataplane") << "signal " << sig << ": draining: serving "
                              << common::config::formatDuration(flags.drain_grace)
                              << " more with /readyz failing, then up to "
                              << common::config::formatDuration(flags.drain_timeout)
                              << " for requests in flight";
  // Fail readiness first and keep serving for the grace: a load balancer routes here until its
  // next health check sees /readyz fail, and those requests must not find the port closed.
  draining = true;
  server.closeConnectionsAfterResponses();
  client.stop();
  model_fetcher.stop();
  health_checker.stop();
  // A second signal cuts the grace short.
  timespec grace{static_cast<time_t>(flags.drain_grace.count() / 1000),
                 static_cast<long>(flags.drain_grace.count() % 1000 * 1'000'000)};
  if (flags.drain_grace.count() > 0 && sigtimedwait(&signals, nullptr, &grace) > 0) {
    FWD_LOG(kInfo, "dataplane") << "second signal: closing the listener now";
  }
  std::int64_t cut = server.drain(flags.drain_timeout);
  if (recorder) {
    recorder->stop();  // the last records go to the control plane, or to the spill file
  }
  admin.stop();
  if (cut > 0) {
    FWD_LOG(kWarn, "dataplane") << cut << " requests were still in flight at the drain deadline";
  }
  FWD_LOG(kInfo, "dataplane") << "stopped";
  return 0;
}
