#include "server/logging.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/systemd_sink.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <stdexcept>

namespace bk::agent {

void setup_logging(const std::string &level)
{
	std::shared_ptr<spdlog::logger> logger;
	if (std::getenv("JOURNAL_STREAM")) {
		// journald adds time, host and unit; priority and message suffice.
		auto sink = std::make_shared<spdlog::sinks::systemd_sink_mt>("bkagentd");
		logger = std::make_shared<spdlog::logger>("bkagentd", sink);
		logger->set_pattern("%v");
	} else {
		logger = std::make_shared<spdlog::logger>("bkagentd", std::make_shared<spdlog::sinks::stderr_sink_mt>());
		logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
	}
	const auto lvl = spdlog::level::from_str(level);
	if (lvl == spdlog::level::off && level != "off")
		throw std::invalid_argument("unknown log_level '" + level + "'");
	logger->set_level(lvl);
	logger->flush_on(spdlog::level::info);
	spdlog::set_default_logger(logger);
}

} // namespace bk::agent
