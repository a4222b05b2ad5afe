// fwd-controlplane: parses flags and wires the store, snapshot hub, node registry and gRPC
// services together. Prints "listening grpc <host>:<port>" on stdout once serving; logs go to
// stderr. SIGTERM/SIGINT shut it down gracefully.
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <string_view>

#include "common/log/log.h"
#include "common/net/grpc_tls.h"
#include "common/net/host_port.h"
#include "controlplane/notify/notifications.h"
#include "controlplane/records/postgres_store.h"
#include "controlplane/records/record_store.h"
#include "controlplane/service/auth.h"
#include "controlplane/service/node_registry.h"
#include "controlplane/service/server.h"
#include "controlplane/snapshot/hub.h"
#include "controlplane/snapshot/publisher.h"
#include "controlplane/store/data_dir.h"
#include "controlplane/store/sqlite_store.h"

namespace {

constexpr char kLog[] = "controlplane";
constexpr int kExitUsage = 2;

constexpr char kUsage[] =
    R"(usage: fwd-controlplane [--listen HOST:PORT] [--data-dir DIR]
                        [--records-dir DIR | --records-postgres DSN]
                        [--log-level LEVEL] [--tls-cert FILE --tls-key FILE [--client-ca FILE]]

Serves the fwd admin API (fwdctl) and config distribution to data planes over gRPC.

  --listen HOST:PORT   gRPC address (default 127.0.0.1:7070; port 0 picks a free port)
  --data-dir DIR       holds fwd.db, admin.token and node.token (default ./fwd-data)
  --records-dir DIR    the request records data planes send, one SQLite file per month
                       (records-YYYY-MM.db; default DATA_DIR/records)
  --records-postgres DSN  keep the records in Postgres instead: a libpq connection string
                       ("host=db1 dbname=fwd user=fwd") or URI; the password from
                       PGPASSWORD or ~/.pgpass rather than the command line
  --tls-cert FILE      serve TLS with this certificate (PEM, chain first) ...
  --tls-key FILE       ... and its private key (PEM); without both: plaintext
  --client-ca FILE     with TLS: require a client certificate signed by this CA (mTLS) from
                       every data plane and fwdctl
  --log-level LEVEL    debug, info, warn or error (default info)
  --help               this text

Prints "listening grpc HOST:PORT" on stdout once serving; logs go to stderr.
)";

struct Flags {
  std::string listen = "127.0.0.1:7070";
  std::string data_dir = "./fwd-data";
  std::string log_level = "info";
  std::string records_dir;       // empty: <data_dir>/records
  std::string records_postgres;  // a DSN: records in Postgres, not records_dir
  fwd::common::net::ServerTls tls;
};

int usageError(const std::string& message) {
  std::cerr << "fwd-controlplane: " << message << " (see --help)\n";
  return kExitUsage;
}

/// Parses argv into `flags`; returns -1 to go on, else the exit code.
int parseFlags(int argc, char** argv, Flags& flags) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
    std::string name(arg);
    std::string value;
    bool has_value = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    std::string* target = nullptr;
    if (name == "--listen") {
      target = &flags.listen;
    } else if (name == "--data-dir") {
      target = &flags.data_dir;
    } else if (name == "--records-dir") {
      target = &flags.records_dir;
    } else if (name == "--records-postgres") {
      target = &flags.records_postgres;
    } else if (name == "--log-level") {
      target = &flags.log_level;
    } else if (name == "--tls-cert") {
      target = &flags.tls.cert_file;
    } else if (name == "--tls-key") {
      target = &flags.tls.key_file;
    } else if (name == "--client-ca") {
      target = &flags.tls.client_ca_file;
    } else {
      return usageError("unknown flag \"" + std::string(arg) + "\"");
    }
    if (!has_value) {
      if (i + 1 >= argc) {
        return usageError(name + " needs a value");
      }
      value = argv[++i];
    }
    *target = value;
  }
  if (!flags.records_postgres.empty() && !flags.records_dir.empty()) {
    return usageError("--records-dir and --records-postgres: one or the other");
  }
  return -1;
}

int fail(const std::string& what, const absl::Status& status) {
  FWD_LOG(kError, kLog) << what << ": " << std::string(status.message());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  namespace cp = fwd::controlplane;
  Flags flags;
  if (int code = parseFlags(argc, argv, flags); code >= 0) {
    return code;
  }
  fwd::common::log::Level level;
  if (!fwd::common::log::parseLevel(flags.log_level, level)) {
    return usageError("--log-level \"" + flags.log_level + "\": use debug, info, warn or error");
  }
  fwd::common::log::setLevel(level);
  absl::StatusOr<fwd::common::net::HostPort> listen = fwd::common::net::parseHostPort(flags.listen);
  if (!listen.ok()) {
    return usageError("--listen: " + std::string(listen.status().message()));
  }
  if (flags.data_dir.empty()) {
    return usageError("--data-dir must not be empty");
  }
  auto credentials = fwd::common::net::serverCredentials(flags.tls);
  if (!credentials.ok()) {
    return usageError("--tls-cert/--tls-key/--client-ca: " +
                      std::string(credentials.status().message()));
  }
  std::unique_ptr<cp::records::RecordsDb> records;
  if (!flags.records_postgres.empty()) {
    auto postgres = cp::records::PostgresRecordStore::open(flags.records_postgres);
    if (!postgres.ok()) {  // a DSN libpq cannot parse
      return usageError(std::string(postgres.status().message()));
    }
    records = std::move(*postgres);
  }

  // Block the shutdown signals before any thread exists so every thread inherits the mask and
  // only sigwait() below sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  if (absl::Status s = cp::store::ensureDataDir(flags.data_dir); !s.ok()) {
    return fail("data dir", s);
  }
  const std::filesystem::path dir(flags.data_dir);
  absl::StatusOr<std::unique_ptr<cp::store::SqliteStore>> store =
      cp::store::SqliteStore::open((dir / cp::store::kDatabaseFile).string());
  if (!store.ok()) {
    return fail("store", store.status());
  }
  absl::StatusOr<bool> created = cp::store::bootstrapTokens(**store, flags.data_dir);
  if (!created.ok()) {
    return fail("tokens", created.status());
  }
  if (*created) {
    FWD_LOG(kInfo, kLog) << "first start: wrote the admin token to "
                         << (dir / cp::store::kAdminTokenFile).string() << " and the node token to "
                         << (dir / cp::store::kNodeTokenFile).string() << " (mode 0600)";
  }
  absl::StatusOr<std::unique_ptr<cp::service::TokenAuthenticator>> auth =
      cp::service::TokenAuthenticator::load(**store);
  if (!auth.ok()) {
    return fail("tokens", auth.status());
  }

  cp::snapshot::SnapshotHub hub;
  cp::snapshot::Publisher publisher(**store, hub);
  if (absl::Status s = publisher.publishCurrent(); !s.ok()) {
    return fail("initial snapshot", s);
  }
  if (records != nullptr) {
    auto* postgres = static_cast<cp::records::PostgresRecordStore*>(records.get());
    if (absl::Status s = postgres->connect(); s.ok()) {
      FWD_LOG(kInfo, kLog) << "request records go to Postgres at " << postgres->describe();
    } else {
      FWD_LOG(kWarn, kLog) << std::string(s.message()) << " (" << postgres->describe()
                           << "); records wait in the data planes' spill files until it can";
    }
  } else {
    const std::filesystem::path records_dir =
        flags.records_dir.empty() ? dir / "records" : std::filesystem::path(flags.records_dir);
    auto sqlite = cp::records::RecordStore::open(records_dir);
    if (!sqlite.ok()) {
      return fail("records", sqlite.status());
    }
    records = std::move(*sqlite);
  }
  cp::notify::Notifications notifications(**store, {});
  notifications.start();
  cp::service::NodeRegistry registry;
  registry.setOnEjected([&](const std::string& node, const std::string& upstream) {
    notifications.onUpstreamEjected(node, upstream);
  });
  absl::StatusOr<std::unique_ptr<cp::service::ControlPlaneServer>> server =
      cp::service::ControlPlaneServer::start(
          listen->toString(),
          {**store, hub, publisher, registry, **auth, records.get(), &notifications},
          cp::service::WatchServiceImpl::kDefaultPollInterval, *credentials);
  if (!server.ok()) {
    return fail("grpc", server.status());
  }
  fwd::common::net::HostPort bound{listen->host, static_cast<std::uint16_t>((*server)->port())};
  FWD_LOG(kInfo, kLog) << "serving config version " << hub.current()->version() << " from "
                       << (dir / cp::store::kDatabaseFile).string() << " over "
                       << (!flags.tls.enabled()               ? "plaintext gRPC"
                           : flags.tls.client_ca_file.empty() ? "TLS"
                                                              : "mutual TLS");
  if (!flags.tls.enabled() && !fwd::common::net::isLoopbackHost(listen->host)) {
    FWD_LOG(kWarn, kLog) << "listening on " << listen->host
                         << " without TLS: tokens and upstream credentials cross the network "
                            "in plaintext (use --tls-cert and --tls-key)";
  }
  std::cout << "listening grpc " << bound.toString() << std::endl;

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  FWD_LOG(kInfo, kLog) << "received " << (signal_number == SIGTERM ? "SIGTERM" : "SIGINT")
                       << ", shutting down";
  (*server)->shutdown();
  notifications.stop();
  FWD_LOG(kInfo, kLog) << "stopped";
  return 0;
}
