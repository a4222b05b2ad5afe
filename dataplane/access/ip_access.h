// IP access rules: who may call fwd, by client address. The client is the socket peer, unless
// the peer is a trusted proxy (fwdctl ip trust): then X-Forwarded-For is walked from the right
// and the first address that is not a trusted proxy is the client. What goes upstream as
// X-Forwarded-For is that believed chain (the client and the trusted proxies after it) plus the
// peer, never what an untrusted client wrote. Global rules (fwdctl ip allow|deny) are checked
// before authentication, a key's own (--allow-ip, --deny-ip) once it is known: deny beats allow,
// and a non-empty allow list means "only these". A refusal is a 403 ip_not_allowed, before any
// upstream is contacted, counted in fwd_ip_refusals_total{scope}.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/net/cidr.h"
#include "dataplane/config/compiled_config.h"
#include "dataplane/policy/policy.h"

namespace fwd::dataplane::access {

/// Deny beats allow; a non-empty allow list admits only its blocks.
bool admitted(const std::vector<common::net::Cidr>& allow,
              const std::vector<common::net::Cidr>& deny, const common::net::IpAddress& client);

/// The client behind `peer` and the X-Forwarded-For to send upstream.
struct ClientAddress {
  common::net::IpAddress ip;
  std::string forwarded_for;  // empty: just the peer
};

/// Walks `forwarded_for` (the request's X-Forwarded-For values, joined with commas, in order)
/// from the right while the address at hand is in `trusted`, starting at the peer.
ClientAddress clientBehind(const common::net::IpAddress& peer, std::string_view peer_text,
                           std::string_view forwarded_for,
                           const std::vector<common::net::Cidr>& trusted);

class IpAccess final : public policy::Policy {
 public:
  IpAccess(config::IpRules rules, bool key_rules)
      : rules_(std::move(rules)), key_rules_(key_rules) {}

  std::string_view name() const override { return "ip_access"; }
  unsigned hooks() const override { return policy::kOnClient | (key_rules_ ? policy::kOnKey : 0u); }
  std::optional<proxy::ApiError> onClient(pipeline::RequestContext& ctx,
                                          policy::WorkerSlot* slot) const override;
  std::optional<proxy::ApiError> onKey(pipeline::RequestContext& ctx,
                                       policy::WorkerSlot* slot) const override;

 private:
  config::IpRules rules_;
  bool key_rules_;
};

}  // namespace fwd::dataplane::access
