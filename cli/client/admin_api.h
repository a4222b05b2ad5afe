// The fwd.v1.AdminService calls fwdctl makes, as an interface: the command layer is written
// against it, AdminClient implements it over gRPC, and tests substitute a mock.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "fwd/v1/admin.pb.h"

namespace fwd::cli::client {

/// Every call blocks until the answer or the deadline. Errors carry the server's code and
/// message unchanged; an unreachable server is marked ErrorKind::kUnreachable.
class AdminApi {
 public:
  virtual ~AdminApi() = default;

  virtual absl::StatusOr<fwd::v1::Upstream> createUpstream(
      const fwd::v1::CreateUpstreamRequest& request) = 0;
  virtual absl::StatusOr<fwd::v1::Upstream> getUpstream(
      const fwd::v1::GetUpstreamRequest& request) = 0;
  virtual absl::StatusOr<fwd::v1::ListUpstreamsResponse> listUpstreams(
      const fwd::v1::ListUpstreamsRequest& request) = 0;
  virtual absl::StatusOr<fwd::v1::Upstream> updateUpstream(
      const fwd::v1::UpdateUpstreamRequest& request) = 0;
  virtual absl::StatusOr<fwd::v1::DeleteUpstreamResponse> deleteUpstream(
      const fwd::v1::DeleteUpstreamRequest& request) = 0;

  virtual absl::StatusOr<fwd::v1::Route> createRoute(
      const fwd::v1::CreateRouteRequest& request) = 0;
  virtual absl::StatusOr<fwd::v1::Route> getRoute(const fwd::v1::GetRouteRequest& request) = 0;
  virtual absl::StatusOr<fwd::v1::ListRoutesResponse> listRoutes(
      const fwd::v1::ListRoutesRequest& request) = 0;
  virtual absl::StatusOr<fwd::v1::Route> updateRoute(
      const fwd::v1::UpdateRouteRequest& request) = 0;
  virtual absl::StatusOr<fwd::v1::DeleteRouteResponse> deleteRoute(
      const fwd::v1::DeleteRouteRequest& request) = 0;

  virtual absl::StatusOr<fwd::v1::CreateKeyResponse> createKey(
      const fwd::v1::CreateKeyRequest& request) = 0;
  virtual absl::StatusOr<fwd::v1::Key> getKey(const fwd::v1::GetKeyRequest& request) = 0;
  virtual absl::StatusOr<fwd::v1::GetKeyLimitsResponse> getKeyLimits(
      const fwd::v1::GetKeyLimitsRequest& request) = 0;
  virtual absl::StatusOr<fwd::v1::GetUsageResponse> getUsage(
      const fwd::v1::GetUsageRequest& request) = 0;
  virtual absl::StatusOr<fwd::v1::ListRecordsResponse> listRecords(
      const fwd::v1::ListRecordsRequest& request) = 0;
  virtual absl::StatusOr<fwd::v1::Notifier> createNotifier(
      const fwd::v1::CreateNotifierRequest& request) = 0;
  virtual absl::StatusOr<fwd::v1::Notifier> getNotifier(
      const fwd::v1::GetNotifierRequest& request) = 0;
  virtual absl::StatusOr<fwd::v1::ListNotifiersResponse> listNotifiers(
      const fwd::v1::ListNotifiersRequest& request) = 0;
  virtual absl::StatusOr<fwd::v1::Notifier> updateNotifier(
      const fwd::v1::UpdateNotifierRequest& request) = 0;
  virtual absl::StatusOr<fwd::v1::DeleteNotifierResponse> deleteNotifier(
      const fwd::v1::DeleteNotifierRequest& request) = 0;
  virtual absl::StatusOr<fwd::v1::TestNotifierResponse> testNotifier(
      const fwd::v1::TestNotifierRequest& request) = 0;
  virtual absl::StatusOr<fwd::v1::ListKeysResponse> listKeys(
      const fwd::v1::ListKeysRequest& request) = 0;
  virtual absl::StatusOr<fwd::v1::Key> updateKey(const fwd::v1::UpdateKeyRequest& request) = 0;
  virtual absl::StatusOr<fwd::v1::CreateKeyResponse> rotateKey(
      const fwd::v1::RotateKeyRequest& request) = 0;
  virtual absl::StatusOr<fwd::v1::Key> revokeKey(const fwd::v1::RevokeKeyRequest& request) = 0;

  virtual absl::StatusOr<fwd::v1::IpRule> addIpRule(const fwd::v1::AddIpRuleRequest& request) = 0;
  virtual absl::StatusOr<fwd::v1::ListIpRulesResponse> listIpRules(
      const fwd::v1::ListIpRulesRequest& request) = 0;
  virtual absl::StatusOr<fwd::v1::RemoveIpRuleResponse> removeIpRule(
      const fwd::v1::RemoveIpRuleRequest& request) = 0;

  virtual absl::StatusOr<fwd::v1::SetPriceResponse> setPrice(
      const fwd::v1::SetPriceRequest& request) = 0;
  virtual absl::StatusOr<fwd::v1::Price> getPrice(const fwd::v1::GetPriceRequest& request) = 0;
  virtual absl::StatusOr<fwd::v1::ListPricesResponse> listPrices(
      const fwd::v1::ListPricesRequest& request) = 0;
  virtual absl::StatusOr<fwd::v1::DeletePriceResponse> deletePrice(
      const fwd::v1::DeletePriceRequest& request) = 0;

  virtual absl::StatusOr<fwd::v1::ListSettingsResponse> listSettings(
      const fwd::v1::ListSettingsRequest& request) = 0;
  virtual absl::StatusOr<fwd::v1::Setting> setSetting(
      const fwd::v1::SetSettingRequest& request) = 0;

  virtual absl::StatusOr<fwd::v1::GetStatusResponse> getStatus(
      const fwd::v1::GetStatusRequest& request) = 0;
};

using AdminApiPtr = std::unique_ptr<AdminApi>;

}  // namespace fwd::cli::client
