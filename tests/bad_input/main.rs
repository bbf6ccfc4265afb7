//! Bad input as a hostile or careless user types it: every refused value is one line naming the
//! flag and the value, exit 2, before anything connects to Docker or etcd (`table`); and
//! arbitrary strings fed to every flag and to the registry parser never panic and are refused
//! with an error that names them (`props`, property tests).

mod issue22;
mod props;
mod table;
