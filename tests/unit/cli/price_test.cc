// fwdctl price: dollars in, millionths to the control plane; set needs both amounts; update
// reads the price, changes the fields given and writes it back; output in table and JSON; and
// the precise usage errors for amounts that do not parse.
#include "cli/commands/price.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli/commands/run.h"
#include "tests/unit/cli/cli_test_util.h"
#include "tests/unit/cli/mock_admin_api.h"

namespace fwd::cli::commands {
namespace {

using ::testing::_;
using testing::MockAdminApi;
using ::testing::Return;
using ::testing::StrictMock;
using testing::with;

class CliPriceTest : public testing::MockedCliTest {};

fwd::v1::Price price(const std::string& model, std::uint64_t in, std::uint64_t out) {
  fwd::v1::Price p;
  p.set_model(model);
  p.set_input_usd_micros(in);
  p.set_output_usd_micros(out);
  return p;
}

TEST_F(CliPriceTest, SetSendsMillionthsAndConfirms) {
  EXPECT_CALL(mock_, setPrice(_)).WillOnce([](const fwd::v1::SetPriceRequest& r) {
    EXPECT_EQ(r.price().model(), "gpt-4o-mini*");
    EXPECT_EQ(r.price().input_usd_micros(), 150'000u);
    EXPECT_EQ(r.price().output_usd_micros(), 600'000u);
    EXPECT_EQ(r.price().cached_input_usd_micros(), 75'000u);
    fwd::v1::SetPriceResponse response;
    *response.mutable_price() = r.price();
    response.set_created(true);
    response.set_version(7);
    return response;
  });
  testing::CliResult r = run({"price", "set", "gpt-4o-mini*", "--input", "0.15", "--output", "0.60",
                              "--cached-input", "0.075"});
  EXPECT_EQ(r.exit_code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "price of \"gpt-4o-mini*\" set: input $0.15, output $0.6, cached input $0.075 per 1M "
            "tokens (config version 7)\n");
}

TEST_F(CliPriceTest, UpdateChangesOnlyTheAmountsGiven) {
  fwd::v1::Price stored = price("gpt-4o", 2'500'000, 10'000'000);
  stored.set_cached_input_usd_micros(1'250'000);
  EXPECT_CALL(mock_, getPrice(_)).WillOnce(Return(stored));
  EXPECT_CALL(mock_, setPrice(_)).WillOnce([](const fwd::v1::SetPriceRequest& r) {
    EXPECT_EQ(r.price().input_usd_micros(), 2'500'000u);
    EXPECT_EQ(r.price().output_usd_micros(), 8'000'000u);
    EXPECT_FALSE(r.price().has_cached_input_usd_micros());
    fwd::v1::SetPriceResponse response;
    *response.mutable_price() = r.price();
    response.set_version(8);
    return response;
  });
  testing::CliResult r =
      run({"price", "update", "gpt-4o", "--output", "8", "--clear-cached-input"});
  EXPECT_EQ(r.exit_code, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "price of \"gpt-4o\" replaced: input $2.5, output $8, cached input as input per 1M "
            "tokens (config version 8)\n");
}

TEST_F(CliPriceTest, ListAndGetRenderTablesAndJson) {
  fwd::v1::ListPricesResponse list;
  *list.add_prices() = price("gpt-4o", 2'500'000, 10'000'000);
  fwd::v1::Price mini = price("gpt-4o-mini*", 150'000, 600'000);
  mini.set_cached_input_usd_micros(75'000);
  *list.add_prices() = mini;
  EXPECT_EQ(priceTable(list),
            "MODEL         INPUT  OUTPUT  CACHED_INPUT  UPDATED\n"
            "gpt-4o        $2.5   $10     as input      -\n"
            "gpt-4o-mini*  $0.15  $0.6    $0.075        -\n");
  EXPECT_EQ(priceJson(mini).dump(),
            R"({"model":"gpt-4o-mini*","input_usd_per_1m":0.15,"output_usd_per_1m":0.6,)"
            R"("cached_input_usd_per_1m":0.075,"created":null,"updated":null})");
  EXPECT_CALL(mock_, listPrices(_)).WillOnce(Return(list));
  testing::CliResult r = run({"price", "list", "-o", "json"});
  EXPECT_EQ(r.exit_code, kExitOk) << r.err;
  EXPECT_NE(r.out.find("\"model\": \"gpt-4o-mini*\""), std::string::npos) << r.out;
}

TEST(CliPriceUsageTest, BadAmountsAndMissingFlagsAreUsageErrors) {
  const std::vector<std::string> set = {"price", "set", "gpt-4o"};
  testing::expectUsageErrors({
      {with(set, {"--input", "2.5"}),
       "price set needs --input and --output (US dollars per 1M tokens)"},
      {with(set, {"--input", "two", "--output", "1"}),
       "--input: invalid amount \"two\": expected US dollars as a decimal such as 2.50 or 0.075 "
       "(at most 6 decimals, at most 1000000)"},
      {with(set, {"--input", "1", "--output", "-3"}),
       "--output: invalid amount \"-3\": expected US dollars as a decimal such as 2.50 or 0.075 "
       "(at most 6 decimals, at most 1000000)"},
      {{"price", "update", "gpt-4o"},
       "nothing to update: give --input, --output, --cached-input or --clear-cached-input"},
      {{"price", "update", "gpt-4o", "--cached-input", "1", "--clear-cached-input"},
       "--clear-cached-input and --cached-input cannot be used together"},
  });
}

}  // namespace
}  // namespace fwd::cli::commands
