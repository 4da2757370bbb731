# Locates the PostgreSQL server we build against, from pg_config (as TimescaleDB does).
# -DPG_CONFIG=/path/to/pg_config chooses another installation.
find_program(PG_CONFIG pg_config)
if(NOT PG_CONFIG)
  message(FATAL_ERROR "pg_config not found: install postgresql-server-dev-15 or pass -DPG_CONFIG=/path/to/pg_config")
endif()

function(_pg_config_var out flag)
  execute_process(COMMAND ${PG_CONFIG} ${flag} OUTPUT_VARIABLE value
                  OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${PG_CONFIG} ${flag} failed")
  endif()
  set(${out} "${value}" PARENT_SCOPE)
endfunction()

_pg_config_var(PG_VERSION_STRING --version)
_pg_config_var(PG_INCLUDEDIR_SERVER --includedir-server)
_pg_config_var(PG_PKGLIBDIR --pkglibdir)
_pg_config_var(PG_SHAREDIR --sharedir)
_pg_config_var(PG_BINDIR --bindir)

string(REGEX MATCH "^PostgreSQL ([0-9]+)" _ "${PG_VERSION_STRING}")
set(PG_VERSION_MAJOR "${CMAKE_MATCH_1}")
set(CDW_SUPPORTED_PG_VERSIONS 15)
if(NOT PG_VERSION_MAJOR IN_LIST CDW_SUPPORTED_PG_VERSIONS)
  message(FATAL_ERROR "cdw_backup supports PostgreSQL ${CDW_SUPPORTED_PG_VERSIONS}; "
                      "${PG_CONFIG} reports \"${PG_VERSION_STRING}\". "
                      "Pass -DPG_CONFIG=/usr/lib/postgresql/15/bin/pg_config.")
endif()
set(PG_REGRESS "${PG_PKGLIBDIR}/pgxs/src/test/regress/pg_regress")
message(STATUS "Building against ${PG_VERSION_STRING} (${PG_CONFIG})")
