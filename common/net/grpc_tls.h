// TLS for the gRPC links between fwd's processes: the control plane's listener (admin API and
// Watch streams) and its two kinds of clients, data planes and fwdctl. Both links carry a bearer
// token (node or admin) and the node link carries upstream credentials, so a client refuses to
// send its token in plaintext anywhere but loopback unless told so explicitly.
#pragma once

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace fwd::common::net {

/// A client's TLS settings, from its flags. Files are PEM.
struct ClientTls {
  bool tls = false;              // TLS with the system's CA store (implied by any file below)
  std::string ca_file;           // trust only this CA (bundle) for the server's certificate
  std::string cert_file;         // client certificate, for a control plane that requires mTLS
  std::string key_file;          // its private key
  bool allow_plaintext = false;  // --insecure: plaintext even to a non-loopback address

  bool enabled() const {
    return tls || !ca_file.empty() || !cert_file.empty() || !key_file.empty();
  }
};

/// Credentials for a channel to `address` ("host:port"). Errors, for the user: a certificate
/// without its key (or the reverse), an unreadable file, or plaintext to a non-loopback address
/// without allow_plaintext.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> channelCredentials(
    const ClientTls& tls, const std::string& address);

/// The control plane's listener settings. With cert and key the listener speaks TLS only; with
/// client_ca as well every client must present a certificate signed by it (mTLS).
struct ServerTls {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;

  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
};

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> serverCredentials(const ServerTls& tls);

/// True for 127.0.0.0/8, ::1 and "localhost": where plaintext never leaves the host.
bool isLoopbackHost(const std::string& host);

}  // namespace fwd::common::net
