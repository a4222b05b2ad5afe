#include "dataplane/access/ip_access.h"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>

#include "common/text/trim.h"
#include "dataplane/pipeline/client_conn.h"
#include "dataplane/pipeline/request_context.h"

namespace fwd::dataplane::access {
namespace {

bool inAny(const std::vector<common::net::Cidr>& blocks, const common::net::IpAddress& ip) {
  for (const common::net::Cidr& block : blocks) {
    if (block.contains(ip)) {
      return true;
    }
  }
  return false;
}

using common::text::trimBlanks;

proxy::ApiError refusal(const pipeline::RequestContext& ctx, const char* scope) {
  ctx.w.metrics.ip_refusals.cell(ctx.w.index, {scope}).add();
  return proxy::ApiError{403, "permission_error", "ip_not_allowed",
                         "Requests from " + ctx.client_ip.toString() + " are not allowed" +
                             (scope[0] == 'k' ? " for this API key." : "."),
                         ""};
}

}  // namespace

bool admitted(const std::vector<common::net::Cidr>& allow,
              const std::vector<common::net::Cidr>& deny, const common::net::IpAddress& client) {
  if (inAny(deny, client)) {
    return false;
  }
  return allow.empty() || inAny(allow, client);
}

ClientAddress clientBehind(const common::net::IpAddress& peer, std::string_view peer_text,
                           std::string_view forwarded_for,
                           const std::vector<common::net::Cidr>& trusted) {
  ClientAddress out{peer, {}};
  if (forwarded_for.empty() || !inAny(trusted, peer)) {
    return out;
  }
  // From the right: each address the last trusted hop reported, until one is not trusted.
  size_t keep_from = forwarded_for.size();  // the believed part is forwarded_for[keep_from..)
  std::string_view rest = forwarded_for;
  while (!rest.empty()) {
    size_t comma = rest.rfind(',');
    std::string_view entry =
        trimBlanks(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
    std::optional<common::net::IpAddress> hop = common::net::parseIp(entry);
    if (!hop) {
      break;  // not an address: the trusted hop to its right is as far as the chain is known
    }
    out.ip = *hop;
    keep_from = comma == std::string_view::npos ? 0 : comma + 1;
    if (!inAny(trusted, *hop)) {
      break;
    }
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
  }
  std::string_view believed = trimBlanks(forwarded_for.substr(keep_from));
  if (!believed.empty()) {
    out.forwarded_for.append(believed).append(", ");
  }
  out.forwarded_for.append(peer_text);
  return out;
}

std::optional<proxy::ApiError> IpAccess::onClient(pipeline::RequestContext& ctx,
                                                  policy::WorkerSlot*) const {
  ctx.client_ip = ctx.client.ip;
  if (!rules_.trust.empty()) {
    // Every X-Forwarded-For field, in order, as one list.
    std::string joined;
    for (const auto& field : ctx.req.fields()) {
      if (field.name == boost::beast::http::field::unknown &&
          boost::beast::iequals(ctx.req.nameOf(field), "x-forwarded-for")) {
        joined.append(joined.empty() ? "" : ",").append(ctx.req.valueOf(field));
      }
    }
    ClientAddress client = clientBehind(ctx.client.ip, ctx.client.address, joined, rules_.trust);
    ctx.client_ip = client.ip;
    ctx.forwarded_for = std::move(client.forwarded_for);
  }
  if (!admitted(rules_.allow, rules_.deny, ctx.client_ip)) {
    return refusal(ctx, "global");
  }
  return std::nullopt;
}

std::optional<proxy::ApiError> IpAccess::onKey(pipeline::RequestContext& ctx,
                                               policy::WorkerSlot*) const {
  if (!admitted(ctx.key->allow_ips, ctx.key->deny_ips, ctx.client_ip)) {
    return refusal(ctx, "key");
  }
  return std::nullopt;
}

}  // namespace fwd::dataplane::access
