#include "controlplane/service/admin_service.h"

#include <google/protobuf/util/time_util.h>

#include <map>

#include "common/crypto/token.h"
#include "common/log/log.h"
#include "common/status/grpc_status.h"
#include "controlplane/validate/settings.h"
#include "controlplane/validate/validate.h"

namespace fwd::controlplane::service {
namespace {

constexpr char kLog[] = "controlplane";
// Keys shorter than this get a hint without characters: four of seven would give most away.
constexpr size_t kMinKeyForHint = 8;
constexpr char kEllipsis[] = "\xE2\x80\xA6";  // U+2026

grpc::Status toGrpc(const absl::Status& s) { return common::status::toGrpc(s); }

void redactKey(fwd::v1::Key& key) {
  key.clear_secret_sha256();
  key.clear_previous_secret_sha256();
}

/// Upstream.health from the connected nodes' last reports; all zeros when none reports on it.
void fillHealth(const std::unordered_map<std::string, fwd::v1::UpstreamHealthSummary>& summaries,
                fwd::v1::Upstream& upstream) {
  auto it = summaries.find(upstream.name());
  *upstream.mutable_health() =
      it != summaries.end() ? it->second : fwd::v1::UpstreamHealthSummary();
}

}  // namespace

void redactUpstream(fwd::v1::Upstream& upstream) {
  if (upstream.credential_case() == fwd::v1::Upstream::kApiKey) {
    const std::string& key = upstream.api_key();
    std::string hint = kEllipsis;
    if (key.size() >= kMinKeyForHint) {
      hint += key.substr(key.size() - 4);
    }
    upstream.set_api_key_hint(hint);
    upstream.clear_api_key();
  }
}

grpc::Status AdminServiceImpl::admit(const grpc::ServerContext& context,
                                     const google::protobuf::Message& request) const {
  grpc::Status auth = auth_.checkAdmin(context);
  if (!auth.ok()) {
    return auth;
  }
  return toGrpc(validate::checkNoUnknownFields(request));
}

void AdminServiceImpl::publish(const char* what) {
  absl::Status s = publisher_.publishCurrent();
  if (!s.ok()) {
    FWD_LOG(kError, kLog) << "committed " << what
                          << " but could not publish a snapshot: " << std::string(s.message());
  }
}

grpc::Status AdminServiceImpl::CreateUpstream(grpc::ServerContext* context,
                                              const fwd::v1::CreateUpstreamRequest* request,
                                              fwd::v1::Upstream* response) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  fwd::v1::Upstream upstream = request->upstream();
  validate::clearOutputOnly(upstream);
  if (absl::Status s = validate::normalizeUpstream(upstream); !s.ok()) {
    return toGrpc(s);
  }
  absl::StatusOr<fwd::v1::Upstream> created = store_.createUpstream(upstream);
  if (!created.ok()) {
    return toGrpc(created.status());
  }
  FWD_LOG(kInfo, kLog) << "created upstream \"" << created->name() << "\" -> "
                       << created->base_url();
  publish("create upstream");
  *response = std::move(*created);
  redactUpstream(*response);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::GetUpstream(grpc::ServerContext* context,
                                           const fwd::v1::GetUpstreamRequest* request,
                                           fwd::v1::Upstream* response) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  if (absl::Status s = validate::checkName("name", request->name()); !s.ok()) {
    return toGrpc(s);
  }
  absl::StatusOr<fwd::v1::Upstream> upstream = store_.getUpstream(request->name());
  if (!upstream.ok()) {
    return toGrpc(upstream.status());
  }
  *response = std::move(*upstream);
  redactUpstream(*response);
  fillHealth(registry_.healthSummaries(), *response);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::ListUpstreams(grpc::ServerContext* context,
                                             const fwd::v1::ListUpstreamsRequest* request,
                                             fwd::v1::ListUpstreamsResponse* response) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  absl::StatusOr<std::vector<fwd::v1::Upstream>> upstreams = store_.listUpstreams();
  if (!upstreams.ok()) {
    return toGrpc(upstreams.status());
  }
  const auto summaries = registry_.healthSummaries();
  for (fwd::v1::Upstream& u : *upstreams) {
    redactUpstream(u);
    fillHealth(summaries, u);
    *response->add_upstreams() = std::move(u);
  }
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::UpdateUpstream(grpc::ServerContext* context,
                                              const fwd::v1::UpdateUpstreamRequest* request,
                                              fwd::v1::Upstream* response) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  const std::string& name = request->upstream().name();
  absl::Status s = validate::checkName("upstream.name", name);
  if (s.ok()) {
    s = validate::checkUpstreamMask(request->update_mask());
  }
  if (!s.ok()) {
    return toGrpc(s);
  }
  absl::StatusOr<fwd::v1::Upstream> updated =
      store_.updateUpstream(name, [&](fwd::v1::Upstream& stored) -> absl::Status {
        absl::Status applied =
            validate::applyUpstreamMask(request->upstream(), request->update_mask(), stored);
        if (!applied.ok()) {
          return applied;
        }
        return validate::normalizeUpstream(stored);
      });
  if (!updated.ok()) {
    return toGrpc(updated.status());
  }
  std::string paths;
  for (const std::string& p : request->update_mask().paths()) {
    paths += (paths.empty() ? "" : ",") + p;
  }
  FWD_LOG(kInfo, kLog) << "updated upstream \"" << name << "\" (" << paths << ")";
  publish("update upstream");
  *response = std::move(*updated);
  redactUpstream(*response);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::DeleteUpstream(grpc::ServerContext* context,
                                              const fwd::v1::DeleteUpstreamRequest* request,
                                              fwd::v1::DeleteUpstreamResponse* response) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  if (absl::Status s = validate::checkName("name", request->name()); !s.ok()) {
    return toGrpc(s);
  }
  absl::StatusOr<std::uint64_t> version = store_.deleteUpstream(request->name());
  if (!version.ok()) {
    return toGrpc(version.status());
  }
  FWD_LOG(kInfo, kLog) << "deleted upstream \"" << request->name() << "\" (version " << *version
                       << ")";
  publish("delete upstream");
  response->set_version(*version);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::CreateRoute(grpc::ServerContext* context,
                                           const fwd::v1::CreateRouteRequest* request,
                                           fwd::v1::Route* response) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  fwd::v1::Route route = request->route();
  validate::clearOutputOnly(route);
  if (absl::Status s = validate::normalizeRoute(route); !s.ok()) {
    return toGrpc(s);
  }
  absl::StatusOr<fwd::v1::Route> created = store_.createRoute(route);
  if (!created.ok()) {
    return toGrpc(created.status());
  }
  FWD_LOG(kInfo, kLog) << "created route \"" << created->name() << "\"";
  publish("create route");
  *response = std::move(*created);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::GetRoute(grpc::ServerContext* context,
                                        const fwd::v1::GetRouteRequest* request,
                                        fwd::v1::Route* response) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  if (absl::Status s = validate::checkName("name", request->name()); !s.ok()) {
    return toGrpc(s);
  }
  absl::StatusOr<fwd::v1::Route> route = store_.getRoute(request->name());
  if (!route.ok()) {
    return toGrpc(route.status());
  }
  *response = std::move(*route);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::ListRoutes(grpc::ServerContext* context,
                                          const fwd::v1::ListRoutesRequest* request,
                                          fwd::v1::ListRoutesResponse* response) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  absl::StatusOr<std::vector<fwd::v1::Route>> routes = store_.listRoutes();
  if (!routes.ok()) {
    return toGrpc(routes.status());
  }
  for (fwd::v1::Route& r : *routes) {
    *response->add_routes() = std::move(r);
  }
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::UpdateRoute(grpc::ServerContext* context,
                                           const fwd::v1::UpdateRouteRequest* request,
                                           fwd::v1::Route* response) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  const std::string& name = request->route().name();
  absl::Status s = validate::checkName("route.name", name);
  if (s.ok()) {
    s = validate::checkRouteMask(request->update_mask());
  }
  if (!s.ok()) {
    return toGrpc(s);
  }
  absl::StatusOr<fwd::v1::Route> updated =
      store_.updateRoute(name, [&](fwd::v1::Route& stored) -> absl::Status {
        absl::Status applied =
            validate::applyRouteMask(request->route(), request->update_mask(), stored);
        if (!applied.ok()) {
          return applied;
        }
        return validate::normalizeRoute(stored);
      });
  if (!updated.ok()) {
    return toGrpc(updated.status());
  }
  std::string paths;
  for (const std::string& p : request->update_mask().paths()) {
    paths += (paths.empty() ? "" : ",") + p;
  }
  FWD_LOG(kInfo, kLog) << "updated route \"" << name << "\" (" << paths << ")";
  publish("update route");
  *response = std::move(*updated);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::DeleteRoute(grpc::ServerContext* context,
                                           const fwd::v1::DeleteRouteRequest* request,
                                           fwd::v1::DeleteRouteResponse* response) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  if (absl::Status s = validate::checkName("name", request->name()); !s.ok()) {
    return toGrpc(s);
  }
  absl::StatusOr<std::uint64_t> version = store_.deleteRoute(request->name());
  if (!version.ok()) {
    return toGrpc(version.status());
  }
  FWD_LOG(kInfo, kLog) << "deleted route \"" << request->name() << "\" (version " << *version
                       << ")";
  publish("delete route");
  response->set_version(*version);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::CreateKey(grpc::ServerContext* context,
                                         const fwd::v1::CreateKeyRequest* request,
                                         fwd::v1::CreateKeyResponse* response) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  fwd::v1::CreateKeyRequest normalized = *request;
  if (absl::Status s = validate::normalizeCreateKey(normalized); !s.ok()) {
    return toGrpc(s);
  }
  std::string secret = common::crypto::randomToken("fwd-");
  fwd::v1::Key key;
  key.set_name(request->name());
  key.set_secret_sha256(common::crypto::sha256Hex(secret));
  key.set_display_prefix(secret.substr(0, 8));
  *key.mutable_models() = normalized.models();
  key.set_errors_as_200(normalized.errors_as_200());
  key.set_log_bodies(normalized.log_bodies());
  *key.mutable_allow_ips() = normalized.allow_ips();
  *key.mutable_deny_ips() = normalized.deny_ips();
  if (normalized.has_limits()) {
    *key.mutable_limits() = normalized.limits();
  }
  absl::StatusOr<fwd::v1::Key> created = store_.createKey(key);
  if (!created.ok()) {
    return toGrpc(created.status());
  }
  FWD_LOG(kInfo, kLog) << "created key \"" << created->name() << "\" (" << created->display_prefix()
                       << "...)";
  publish("create key");
  *response->mutable_key() = std::move(*created);
  redactKey(*response->mutable_key());
  response->set_secret(std::move(secret));
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::ListKeys(grpc::ServerContext* context,
                                        const fwd::v1::ListKeysRequest* request,
                                        fwd::v1::ListKeysResponse* response) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  absl::StatusOr<std::vector<fwd::v1::Key>> keys = store_.listKeys();
  if (!keys.ok()) {
    return toGrpc(keys.status());
  }
  for (fwd::v1::Key& k : *keys) {
    redactKey(k);
    *response->add_keys() = std::move(k);
  }
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::GetKey(grpc::ServerContext* context,
                                      const fwd::v1::GetKeyRequest* request,
                                      fwd::v1::Key* response) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  if (absl::Status s = validate::checkName("name", request->name()); !s.ok()) {
    return toGrpc(s);
  }
  absl::StatusOr<fwd::v1::Key> key = store_.getKey(request->name());
  if (!key.ok()) {
    return toGrpc(key.status());
  }
  *response = std::move(*key);
  redactKey(*response);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::GetKeyLimits(grpc::ServerContext* context,
                                            const fwd::v1::GetKeyLimitsRequest* request,
                                            fwd::v1::GetKeyLimitsResponse* response) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  if (absl::Status s = validate::checkName("name", request->name()); !s.ok()) {
    return toGrpc(s);
  }
  absl::StatusOr<fwd::v1::Key> key = store_.getKey(request->name());
  if (!key.ok()) {
    return toGrpc(key.status());
  }
  auto deadline = std::chrono::steady_clock::now() + kLimitsQueryTimeout;
  if (auto client_deadline = context->deadline();
      client_deadline < std::chrono::system_clock::now() + kLimitsQueryTimeout) {
    // Answer within the caller's own deadline, with whatever came by then.
    deadline = std::chrono::steady_clock::now() +
               std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                   (client_deadline - std::chrono::system_clock::now()) * 9 / 10);
  }
  for (LimitsQueries::Reply& reply : queries_.ask(key->id(), deadline)) {
    fwd::v1::NodeKeyLimits* node = response->add_nodes();
    node->set_node_id(reply.node_id);
    if (!reply.answer) {
      node->set_error("did not answer in time");
    } else if (!reply.answer->key_known()) {
      node->set_error("the key is not in the config this data plane serves yet");
    } else {
      *node->mutable_state() = std::move(*reply.answer->mutable_state());
    }
  }
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::UpdateKey(grpc::ServerContext* context,
                                         const fwd::v1::UpdateKeyRequest* request,
                                         fwd::v1::Key* response) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  const std::string& name = request->key().name();
  absl::Status s = validate::checkName("key.name", name);
  if (s.ok()) {
    s = validate::checkKeyMask(request->update_mask());
  }
  if (!s.ok()) {
    return toGrpc(s);
  }
  absl::StatusOr<fwd::v1::Key> updated =
      store_.updateKey(name, [&](fwd::v1::Key& stored) -> absl::Status {
        return validate::applyKeyMask(request->key(), request->update_mask(), stored);
      });
  if (!updated.ok()) {
    return toGrpc(updated.status());
  }
  FWD_LOG(kInfo, kLog) << "updated key \"" << name << "\"";
  publish("update key");
  *response = std::move(*updated);
  redactKey(*response);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::RotateKey(grpc::ServerContext* context,
                                         const fwd::v1::RotateKeyRequest* request,
                                         fwd::v1::CreateKeyResponse* response) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  if (absl::Status s = validate::checkRotateKey(*request); !s.ok()) {
    return toGrpc(s);
  }
  std::chrono::microseconds grace(request->grace().seconds() * 1'000'000 +
                                  request->grace().nanos() / 1'000);
  std::string secret = common::crypto::randomToken("fwd-");
  absl::StatusOr<fwd::v1::Key> rotated = store_.rotateKey(
      request->name(), common::crypto::sha256Hex(secret), secret.substr(0, 8), grace);
  if (!rotated.ok()) {
    return toGrpc(rotated.status());
  }
  FWD_LOG(kInfo, kLog) << "rotated key \"" << rotated->name() << "\" (now "
                       << rotated->display_prefix() << "...)";
  publish("rotate key");
  *response->mutable_key() = std::move(*rotated);
  redactKey(*response->mutable_key());
  response->set_secret(std::move(secret));
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::RevokeKey(grpc::ServerContext* context,
                                         const fwd::v1::RevokeKeyRequest* request,
                                         fwd::v1::Key* response) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  if (absl::Status s = validate::checkName("name", request->name()); !s.ok()) {
    return toGrpc(s);
  }
  absl::StatusOr<fwd::v1::Key> revoked = store_.revokeKey(request->name());
  if (!revoked.ok()) {
    return toGrpc(revoked.status());
  }
  FWD_LOG(kInfo, kLog) << "revoked key \"" << revoked->name() << "\"";
  publish("revoke key");
  *response = std::move(*revoked);
  redactKey(*response);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::AddIpRule(grpc::ServerContext* context,
                                         const fwd::v1::AddIpRuleRequest* request,
                                         fwd::v1::IpRule* response) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  fwd::v1::IpRule rule = request->rule();
  if (absl::Status s = validate::normalizeIpRule(rule); !s.ok()) {
    return toGrpc(s);
  }
  absl::StatusOr<fwd::v1::IpRule> added = store_.addIpRule(rule);
  if (!added.ok()) {
    return toGrpc(added.status());
  }
  FWD_LOG(kInfo, kLog) << "added ip rule " << fwd::v1::IpRule::Action_Name(added->action()) << " "
                       << added->cidr();
  publish("add ip rule");
  *response = std::move(*added);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::ListIpRules(grpc::ServerContext* context,
                                           const fwd::v1::ListIpRulesRequest* request,
                                           fwd::v1::ListIpRulesResponse* response) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  absl::StatusOr<std::vector<fwd::v1::IpRule>> rules = store_.listIpRules();
  if (!rules.ok()) {
    return toGrpc(rules.status());
  }
  for (fwd::v1::IpRule& r : *rules) {
    *response->add_rules() = std::move(r);
  }
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::RemoveIpRule(grpc::ServerContext* context,
                                            const fwd::v1::RemoveIpRuleRequest* request,
                                            fwd::v1::RemoveIpRuleResponse* response) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  // The block as it is stored, however it was written.
  fwd::v1::IpRule probe;
  probe.set_cidr(request->cidr());
  probe.set_action(fwd::v1::IpRule::ACTION_DENY);
  if (absl::Status s = validate::normalizeIpRule(probe); !s.ok()) {
    return toGrpc(s);
  }
  if (!fwd::v1::IpRule::Action_IsValid(request->action())) {
    return toGrpc(absl::InvalidArgumentError("action: unknown value"));
  }
  absl::StatusOr<store::IpRuleRemoval> removed =
      store_.removeIpRule(probe.cidr(), request->action());
  if (!removed.ok()) {
    return toGrpc(removed.status());
  }
  FWD_LOG(kInfo, kLog) << "removed " << removed->removed << " ip rule(s) for " << probe.cidr();
  publish("remove ip rule");
  response->set_version(removed->version);
  response->set_removed(removed->removed);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::SetPrice(grpc::ServerContext* context,
                                        const fwd::v1::SetPriceRequest* request,
                                        fwd::v1::SetPriceResponse* response) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  fwd::v1::Price price = request->price();
  if (absl::Status s = validate::normalizePrice(price); !s.ok()) {
    return toGrpc(s);
  }
  absl::StatusOr<store::PriceWrite> written = store_.setPrice(price);
  if (!written.ok()) {
    return toGrpc(written.status());
  }
  FWD_LOG(kInfo, kLog) << (written->created ? "set" : "replaced") << " the price of model "
                       << price.model() << " (version " << written->version << ")";
  publish("set price");
  *response->mutable_price() = std::move(written->price);
  response->set_created(written->created);
  response->set_version(written->version);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::GetPrice(grpc::ServerContext* context,
                                        const fwd::v1::GetPriceRequest* request,
                                        fwd::v1::Price* response) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  absl::StatusOr<fwd::v1::Price> price = store_.getPrice(request->model());
  if (!price.ok()) {
    return toGrpc(price.status());
  }
  *response = std::move(*price);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::ListPrices(grpc::ServerContext* context,
                                          const fwd::v1::ListPricesRequest* request,
                                          fwd::v1::ListPricesResponse* response) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  absl::StatusOr<std::vector<fwd::v1::Price>> prices = store_.listPrices();
  if (!prices.ok()) {
    return toGrpc(prices.status());
  }
  for (fwd::v1::Price& p : *prices) {
    *response->add_prices() = std::move(p);
  }
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::DeletePrice(grpc::ServerContext* context,
                                           const fwd::v1::DeletePriceRequest* request,
                                           fwd::v1::DeletePriceResponse* response) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  absl::StatusOr<std::uint64_t> version = store_.deletePrice(request->model());
  if (!version.ok()) {
    return toGrpc(version.status());
  }
  FWD_LOG(kInfo, kLog) << "removed the price of model " << request->model() << " (version "
                       << *version << ")";
  publish("remove price");
  response->set_version(*version);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::ListSettings(grpc::ServerContext* context,
                                            const fwd::v1::ListSettingsRequest* request,
                                            fwd::v1::ListSettingsResponse* response) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  absl::StatusOr<std::map<std::string, std::string>> stored = store_.listSettings();
  if (!stored.ok()) {
    return toGrpc(stored.status());
  }
  for (fwd::v1::Setting& setting : validate::knownSettings()) {
    auto it = stored->find(setting.name());
    setting.set_value(it != stored->end() ? validate::displaySetting(setting.name(), it->second)
                                          : setting.default_value());
    *response->add_settings() = std::move(setting);
  }
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::SetSetting(grpc::ServerContext* context,
                                          const fwd::v1::SetSettingRequest* request,
                                          fwd::v1::Setting* response) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  absl::StatusOr<std::string> value = validate::checkSetting(request->name(), request->value());
  if (!value.ok()) {
    return toGrpc(value.status());
  }
  absl::StatusOr<std::uint64_t> version = store_.setSetting(request->name(), *value);
  if (!version.ok()) {
    return toGrpc(version.status());
  }
  std::string shown = validate::displaySetting(request->name(), *value);
  FWD_LOG(kInfo, kLog) << "setting " << request->name() << " = " << shown << " (version "
                       << *version << ")";
  publish("set setting");
  for (fwd::v1::Setting& setting : validate::knownSettings()) {
    if (setting.name() == request->name()) {
      *response = std::move(setting);
    }
  }
  response->set_value(shown);
  return grpc::Status::OK;
}

namespace {

// A page of records with their bodies (each body at most 1 MiB) stays within what a client
// takes in one message.
constexpr std::uint32_t kMaxRecordsWithBodies = 100;

/// The store's query for a RecordFilter; INVALID_ARGUMENT names a field that is out of range.
grpc::Status queryOf(const fwd::v1::RecordFilter& f, records::Query& q) {
  if (f.status_class() != 0 && (f.status_class() < 2 || f.status_class() > 5)) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "filter.status_class: must be 2 to 5 (2xx to 5xx), got " +
                            std::to_string(f.status_class()));
  }
  q.key = f.key();
  q.model = f.model();
  q.upstream = f.upstream();
  q.status_class = f.status_class();
  if (f.has_from()) {
    q.from_ms = google::protobuf::util::TimeUtil::TimestampToMilliseconds(f.from());
  }
  if (f.has_to()) {
    q.to_ms = google::protobuf::util::TimeUtil::TimestampToMilliseconds(f.to());
  }
  return grpc::Status::OK;
}

}  // namespace

grpc::Status AdminServiceImpl::ListRecords(grpc::ServerContext* context,
                                           const fwd::v1::ListRecordsRequest* request,
                                           fwd::v1::ListRecordsResponse* response) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  if (records_ == nullptr) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "this control plane keeps no records");
  }
  if (request->limit() > 10'000) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "limit: at most 10000, got " + std::to_string(request->limit()));
  }
  if (request->include_bodies() && request->limit() > kMaxRecordsWithBodies) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "limit: at most " + std::to_string(kMaxRecordsWithBodies) +
                            " with include_bodies, got " + std::to_string(request->limit()));
  }
  records::Query q;
  if (grpc::Status s = queryOf(request->filter(), q); !s.ok()) {
    return s;
  }
  q.limit = request->limit() == 0 ? 50 : request->limit();
  absl::StatusOr<records::Page> page;
  switch (request->order()) {
    case fwd::v1::RECORD_ORDER_NEWEST_FIRST:
      if (!request->page_token().empty()) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "page_token: the newest-first listing has no pages");
      }
      page = records::Page{};
      if (absl::StatusOr<std::vector<fwd::v1::Record>> found = records_->recent(q); found.ok()) {
        page->records = std::move(*found);
      } else {
        page = found.status();
      }
      break;
    case fwd::v1::RECORD_ORDER_OLDEST_FIRST:
      page = records_->oldestFirst(q, request->page_token());
      break;
    case fwd::v1::RECORD_ORDER_ARRIVAL:
      page = records_->arrived(q, request->page_token(),
                               std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
      break;
    default:
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "order: unknown value " + std::to_string(request->order()));
  }
  if (!page.ok()) {
    return toGrpc(page.status());
  }
  for (fwd::v1::Record& r : page->records) {
    if (!request->include_bodies()) {
      r.clear_request_body();
      r.clear_response_body();
    }
    *response->add_records() = std::move(r);
  }
  response->set_next_page_token(std::move(page->next_token));
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::GetUsage(grpc::ServerContext* context,
                                        const fwd::v1::GetUsageRequest* request,
                                        fwd::v1::GetUsageResponse* response) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  if (records_ == nullptr) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "this control plane keeps no records");
  }
  static const std::map<std::string, records::GroupBy> kGroups = {
      {"", records::GroupBy::kNone},       {"key", records::GroupBy::kKey},
      {"model", records::GroupBy::kModel}, {"upstream", records::GroupBy::kUpstream},
      {"day", records::GroupBy::kDay},     {"hour", records::GroupBy::kHour}};
  auto group = kGroups.find(request->group_by());
  if (group == kGroups.end()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "group_by \"" + request->group_by().substr(0, 32) +
                            "\": must be key, model, upstream, day or hour (or empty)");
  }
  records::Query q;
  if (grpc::Status s = queryOf(request->filter(), q); !s.ok()) {
    return s;
  }
  absl::StatusOr<std::vector<records::UsageRow>> rows = records_->usage(q, group->second);
  if (!rows.ok()) {
    return toGrpc(rows.status());
  }
  for (const records::UsageRow& r : *rows) {
    fwd::v1::UsageRow* row = response->add_rows();
    row->set_group(r.group);
    row->set_requests(r.requests);
    row->set_errors(r.errors);
    row->set_prompt_tokens(r.prompt_tokens);
    row->set_completion_tokens(r.completion_tokens);
    row->set_cached_tokens(r.cached_tokens);
    row->set_cost_nano_usd(r.cost_nano_usd);
    row->set_unpriced_requests(r.unpriced_requests);
  }
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::GetStatus(grpc::ServerContext* context,
                                         const fwd::v1::GetStatusRequest* request,
                                         fwd::v1::GetStatusResponse* response) {
  if (grpc::Status s = admit(*context, *request); !s.ok()) {
    return s;
  }
  absl::StatusOr<std::uint64_t> version = store_.version();
  if (!version.ok()) {
    return toGrpc(version.status());
  }
  response->set_version(*version);
  for (fwd::v1::DataPlaneStatus& node : registry_.list()) {
    *response->add_dataplanes() = std::move(node);
  }
  return grpc::Status::OK;
}

}  // namespace fwd::controlplane::service
