#include "client/files.h"

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace bk::client {

std::string read_file(const std::string &path)
{
	std::ifstream in(path);
	if (!in)
		throw std::runtime_error("cannot read " + path);
	std::stringstream s;
	s << in.rdbuf();
	return s.str();
}

} // namespace bk::client
