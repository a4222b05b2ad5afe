// gMock of fwd::cli::client::AdminApi, for tests of the command layer that need no network.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "cli/client/admin_api.h"
#include "tests/unit/cli/cli_test_util.h"

namespace fwd::cli::testing {

class MockAdminApi : public client::AdminApi {
 public:
  MOCK_METHOD(absl::StatusOr<fwd::v1::Upstream>, createUpstream,
              (const fwd::v1::CreateUpstreamRequest&), (override));
  MOCK_METHOD(absl::StatusOr<fwd::v1::Upstream>, getUpstream, (const fwd::v1::GetUpstreamRequest&),
              (override));
  MOCK_METHOD(absl::StatusOr<fwd::v1::ListUpstreamsResponse>, listUpstreams,
              (const fwd::v1::ListUpstreamsRequest&), (override));
  MOCK_METHOD(absl::StatusOr<fwd::v1::Upstream>, updateUpstream,
              (const fwd::v1::UpdateUpstreamRequest&), (override));
  MOCK_METHOD(absl::StatusOr<fwd::v1::DeleteUpstreamResponse>, deleteUpstream,
              (const fwd::v1::DeleteUpstreamRequest&), (override));
  MOCK_METHOD(absl::StatusOr<fwd::v1::Route>, createRoute, (const fwd::v1::CreateRouteRequest&),
              (override));
  MOCK_METHOD(absl::StatusOr<fwd::v1::Route>, getRoute, (const fwd::v1::GetRouteRequest&),
              (override));
  MOCK_METHOD(absl::StatusOr<fwd::v1::ListRoutesResponse>, listRoutes,
              (const fwd::v1::ListRoutesRequest&), (override));
  MOCK_METHOD(absl::StatusOr<fwd::v1::Route>, updateRoute, (const fwd::v1::UpdateRouteRequest&),
              (override));
  MOCK_METHOD(absl::StatusOr<fwd::v1::DeleteRouteResponse>, deleteRoute,
              (const fwd::v1::DeleteRouteRequest&), (override));
  MOCK_METHOD(absl::StatusOr<fwd::v1::CreateKeyResponse>, createKey,
              (const fwd::v1::CreateKeyRequest&), (override));
  MOCK_METHOD(absl::StatusOr<fwd::v1::ListKeysResponse>, listKeys,
              (const fwd::v1::ListKeysRequest&), (override));
  MOCK_METHOD(absl::StatusOr<fwd::v1::Key>, getKey, (const fwd::v1::GetKeyRequest&), (override));
  MOCK_METHOD(absl::StatusOr<fwd::v1::GetKeyLimitsResponse>, getKeyLimits,
              (const fwd::v1::GetKeyLimitsRequest&), (override));
  MOCK_METHOD(absl::StatusOr<fwd::v1::GetUsageResponse>, getUsage,
              (const fwd::v1::GetUsageRequest&), (override));
  MOCK_METHOD(absl::StatusOr<fwd::v1::ListRecordsResponse>, listRecords,
              (const fwd::v1::ListRecordsRequest&), (override));
  MOCK_METHOD(absl::StatusOr<fwd::v1::Notifier>, createNotifier,
              (const fwd::v1::CreateNotifierRequest&), (override));
  MOCK_METHOD(absl::StatusOr<fwd::v1::Notifier>, getNotifier, (const fwd::v1::GetNotifierRequest&),
              (override));
  MOCK_METHOD(absl::StatusOr<fwd::v1::ListNotifiersResponse>, listNotifiers,
              (const fwd::v1::ListNotifiersRequest&), (override));
  MOCK_METHOD(absl::StatusOr<fwd::v1::Notifier>, updateNotifier,
              (const fwd::v1::UpdateNotifierRequest&), (override));
  MOCK_METHOD(absl::StatusOr<fwd::v1::DeleteNotifierResponse>, deleteNotifier,
              (const fwd::v1::DeleteNotifierRequest&), (override));
  MOCK_METHOD(absl::StatusOr<fwd::v1::TestNotifierResponse>, testNotifier,
              (const fwd::v1::TestNotifierRequest&), (override));
  MOCK_METHOD(absl::StatusOr<fwd::v1::Key>, updateKey, (const fwd::v1::UpdateKeyRequest&),
              (override));
  MOCK_METHOD(absl::StatusOr<fwd::v1::CreateKeyResponse>, rotateKey,
              (const fwd::v1::RotateKeyRequest&), (override));
  MOCK_METHOD(absl::StatusOr<fwd::v1::IpRule>, addIpRule, (const fwd::v1::AddIpRuleRequest&),
              (override));
  MOCK_METHOD(absl::StatusOr<fwd::v1::ListIpRulesResponse>, listIpRules,
              (const fwd::v1::ListIpRulesRequest&), (override));
  MOCK_METHOD(absl::StatusOr<fwd::v1::RemoveIpRuleResponse>, removeIpRule,
              (const fwd::v1::RemoveIpRuleRequest&), (override));
  MOCK_METHOD(absl::StatusOr<fwd::v1::SetPriceResponse>, setPrice,
              (const fwd::v1::SetPriceRequest&), (override));
  MOCK_METHOD(absl::StatusOr<fwd::v1::Price>, getPrice, (const fwd::v1::GetPriceRequest&),
              (override));
  MOCK_METHOD(absl::StatusOr<fwd::v1::ListPricesResponse>, listPrices,
              (const fwd::v1::ListPricesRequest&), (override));
  MOCK_METHOD(absl::StatusOr<fwd::v1::DeletePriceResponse>, deletePrice,
              (const fwd::v1::DeletePriceRequest&), (override));
  MOCK_METHOD(absl::StatusOr<fwd::v1::ListSettingsResponse>, listSettings,
              (const fwd::v1::ListSettingsRequest&), (override));
  MOCK_METHOD(absl::StatusOr<fwd::v1::Setting>, setSetting, (const fwd::v1::SetSettingRequest&),
              (override));
  MOCK_METHOD(absl::StatusOr<fwd::v1::Key>, revokeKey, (const fwd::v1::RevokeKeyRequest&),
              (override));
  MOCK_METHOD(absl::StatusOr<fwd::v1::GetStatusResponse>, getStatus,
              (const fwd::v1::GetStatusRequest&), (override));
};

/// Runs whole command lines (with a token) against a strict mock: each test sets the calls it
/// expects on mock_, and run() may be called once.
class MockedCliTest : public ::testing::Test {
 protected:
  CliResult run(std::vector<std::string> args) {
    args.push_back("--token=t0k");
    CliSetup setup;
    setup.connect = connectOnce(std::move(mock_owner_));
    return runCli(args, setup);
  }

  std::unique_ptr<::testing::StrictMock<MockAdminApi>> mock_owner_ =
      std::make_unique<::testing::StrictMock<MockAdminApi>>();
  ::testing::StrictMock<MockAdminApi>& mock_ = *mock_owner_;
};

}  // namespace fwd::cli::testing
