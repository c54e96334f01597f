//! The command line: `serve`, `user add|list|disable|enable|set-password|set-scope`, `device revoke`,
//! `purge-tombstones` and `demo`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use gridline_core::access::Scope;
use gridline_core::{EntityKind, Role};

use crate::error::AppError;
use crate::{AppState, Config, SqliteStorage, Storage, UserSpec};

/// Gridline sync server.
#[derive(Debug, Parser)]
#[command(name = "gridline-server", version, about = "Gridline sync server")]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Sub-commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Data directory (holds gridline.sqlite).
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        /// Device tokens expire after this many days, 1 to 3650 (default: until revoked).
        #[arg(long, value_parser = clap::value_parser!(i64).range(1..=3650))]
        token_days: Option<i64>,
    },
    /// Manage users.
    User {
        /// What to do with users.
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Revoke a device's token.
    RevokeDevice {
        /// Data directory.
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        /// Device id.
        #[arg(long)]
        device_id: String,
    },
    /// Purge tombstones at or below a sequence; devices further behind re-bootstrap.
    PurgeTombstones {
        /// Data directory.
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        /// Highest sequence to purge (default: everything up to now).
        #[arg(long)]
        up_to_seq: Option<i64>,
    },
    /// Write a consistent copy of the database to a new file, while the server runs.
    Backup {
        /// Data directory.
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        /// The backup file to write (must not exist yet).
        #[arg(long)]
        to: PathBuf,
    },
    /// Put a backup in place of a stopped server's database; every device then re-downloads
    /// its data on its next sync (pushing its unsynced edits first).
    Restore {
        /// Data directory.
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        /// The backup file (written by `backup`).
        #[arg(long)]
        from: PathBuf,
    },
    /// Load a city's jurisdiction tree, departments and incident categories from a JSON file
    /// (the shape of shared/data/jiangmen.json); records already held are left as they are.
    /// The server must be stopped.
    Import {
        /// Data directory.
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        /// The city file.
        #[arg(long)]
        file: PathBuf,
    },
    /// List areas, buildings or departments with their ids (what `user add` takes as a scope).
    List {
        /// What to list.
        #[arg(value_enum)]
        what: ListKind,
        /// Data directory.
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        /// Only areas and buildings within this area's subtree.
        #[arg(long)]
        within: Option<String>,
    },
    /// Create (if empty) a data dir with a demo city, print credentials and serve it.
    Demo {
        /// Data directory.
        #[arg(long, default_value = "./demo-data")]
        data_dir: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Number of households to seed, 1 to 1,000,000.
        #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        households: u64,
    },
}

/// What `gridline-server list` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListKind {
    /// The jurisdiction tree: id, level, name, parent.
    Areas,
    /// Buildings: id, grid, name, address.
    Buildings,
    /// Departments: id, name.
    Departments,
}

/// The lines `gridline-server list` prints, tab separated, by id: the id first (what `user add`
/// and `user set-scope` take), then what tells the records apart. With `within`, only areas and
/// buildings in that area's subtree (an id the server does not hold is an error).
pub fn list_lines(storage: &dyn Storage, what: ListKind, within: Option<&str>) -> Result<Vec<String>, Box<dyn std::error::Error + Send + Sync>> {
    let tree = storage.area_parents()?;
    if let Some(w) = within {
        if !tree.contains_key(w) {
            return Err(format!("区域「{w}」不存在 (--within: no area with id {w})").into());
        }
    }
    let inside = |area: &str| within.is_none_or(|w| gridline_core::access::area_path(&tree, area).iter().any(|a| a == w));
    let text = |r: &gridline_core::record::Row, k: &str| r.fields.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    let (entity, columns): (EntityKind, &[&str]) = match what {
        ListKind::Areas => (EntityKind::Area, &["kind", "name", "parent_id"]),
        ListKind::Buildings => (EntityKind::Building, &["grid_id", "name", "address"]),
        ListKind::Departments => (EntityKind::Department, &["name"]),
    };
    let mut rows = storage.console().all(entity)?;
    rows.retain(|r| match what {
        ListKind::Areas => inside(&r.id),
        ListKind::Buildings => inside(&text(r, "grid_id")),
        ListKind::Departments => true,
    });
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(rows.iter().map(|r| std::iter::once(r.id.clone()).chain(columns.iter().map(|c| text(r, c))).collect::<Vec<_>>().join("\t")).collect())
}

/// Scope options shared by `user add` and `user set-scope`.
#[derive(Debug, Default, Args)]
pub struct ScopeArgs {
    /// Area ids (comma separated); each covers its subtree.
    #[arg(long, value_delimiter = ',')]
    pub areas: Vec<String>,
    /// Building ids (building heads).
    #[arg(long, value_delimiter = ',')]
    pub buildings: Vec<String>,
    /// Department ids (department handlers).
    #[arg(long, value_delimiter = ',')]
    pub departments: Vec<String>,
}

impl ScopeArgs {
    fn scope(&self) -> Scope {
        let clean = |v: &[String]| v.iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
        Scope { area_ids: clean(&self.areas), building_ids: clean(&self.buildings), department_ids: clean(&self.departments) }
    }
}

/// The data directory and login name every one-user command takes.
#[derive(Debug, Args)]
pub struct UserArgs {
    /// Data directory.
    #[arg(long, default_value = "./data")]
    pub data_dir: PathBuf,
    /// Login name.
    #[arg(long)]
    pub username: String,
}

/// Where a new password comes from: asked for on the terminal (not echoed, twice) unless one
/// of these is given.
#[derive(Debug, clap::Args)]
#[group(multiple = false)]
pub struct PasswordArgs {
    /// The password itself. Other users of the machine can read it in the process list and it
    /// stays in the shell's history: prefer --password-stdin or the prompt.
    #[arg(long)]
    pub password: Option<String>,
    /// Read the password from the first line of standard input (for scripts).
    #[arg(long)]
    pub password_stdin: bool,
}

impl PasswordArgs {
    /// The password, from the flag, standard input or the terminal.
    fn read(self) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        let stdin = std::io::stdin();
        let terminal = std::io::IsTerminal::is_terminal(&stdin);
        self.read_from(stdin.lock(), terminal, &|prompt| rpassword::prompt_password(prompt))
    }

    fn read_from(
        self,
        mut input: impl std::io::BufRead,
        terminal: bool,
        prompt: &dyn Fn(&str) -> std::io::Result<String>,
    ) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        // An empty password is refused by the service, like any other caller's.
        if let Some(p) = self.password {
            Ok(p)
        } else if self.password_stdin {
            let mut line = String::new();
            input.read_line(&mut line)?;
            Ok(line.trim_end_matches(['\n', '\r']).to_owned())
        } else if terminal {
            let first = prompt("password: ")?;
            if prompt("same password again: ")? != first {
                return Err(Failed::new("两次输入的密码不一致，未作任何修改", "the two passwords differ; nothing changed").into());
            }
            Ok(first)
        } else {
            Err(Failed::new("未提供密码：请用 --password-stdin 从标准输入传入", "no password given: pass it on standard input with --password-stdin").into())
        }
    }
}

/// User sub-commands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Add {
        #[command(flatten)]
        user: UserArgs,
        /// Password.
        #[command(flatten)]
        password: PasswordArgs,
        /// grid_worker | building_head | supervisor | department_handler | admin.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Scope.
        #[command(flatten)]
        scope: ScopeArgs,
        /// Display name.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List users.
    List {
        /// Data directory.
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
    },
    /// Disable a user (their devices stop syncing).
    Disable {
        #[command(flatten)]
        user: UserArgs,
    },
    /// Enable a disabled user.
    Enable {
        #[command(flatten)]
        user: UserArgs,
    },
    /// Give a user a new password; the old one stops working and their console sessions end
    /// (their devices keep syncing: revoke a device separately).
    SetPassword {
        #[command(flatten)]
        user: UserArgs,
        /// New password.
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Replace a user's role and scope; their devices purge and re-pull on next sync.
    SetScope {
        #[command(flatten)]
        user: UserArgs,
        /// New role (default: unchanged).
        #[arg(long, value_parser = parse_role)]
        role: Option<Role>,
        /// Scope.
        #[command(flatten)]
        scope: ScopeArgs,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("未知角色「{s}」，可用：grid_worker、building_head、supervisor、department_handler、admin (unknown role)"))
}

type CliResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// A command that could not be done, said in Chinese first (operators read it), then English.
#[derive(Debug)]
struct Failed {
    zh: &'static str,
    en: &'static str,
}

impl Failed {
    fn new(zh: &'static str, en: &'static str) -> Failed {
        Failed { zh, en }
    }
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.zh, self.en)
    }
}

impl std::error::Error for Failed {}

fn no_such_user() -> Box<dyn std::error::Error + Send + Sync> {
    Failed::new("用户不存在", "no such user").into()
}

/// Prints a listing; a reader that stopped early (`| head`) ends it, not the process.
fn print_lines(lines: impl IntoIterator<Item = String>) {
    let mut out = std::io::stdout().lock();
    for line in lines {
        if std::io::Write::write_fmt(&mut out, format_args!("{line}\n")).is_err() {
            break;
        }
    }
}

/// How a failed command is told on the terminal: an API error (bad input to `user add`, say)
/// in Chinese first with its English beside it, anything else as it reads.
pub fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    match e.downcast_ref::<AppError>() {
        Some(a) => format!("{} ({})", a.message_zh, a.message),
        None => e.to_string(),
    }
}

/// The file a serving server holds locked in its data dir.
pub const LOCK_FILE: &str = "gridline.lock";

/// Locks the data dir for one serving server (until the returned file is dropped or the process
/// ends, however it ends): a second `serve` or `demo` on the same data is refused instead of
/// running beside the first. A file system without locks (some network mounts) gets a warning.
pub fn lock_data_dir(data_dir: &Path) -> Result<Option<std::fs::File>, Box<dyn std::error::Error + Send + Sync>> {
    std::fs::create_dir_all(data_dir)?;
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(data_dir.join(LOCK_FILE))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(Failed::new(
            "另一个服务器正在使用该数据目录，未启动",
            "another server is serving this data directory; not started",
        )
        .into()),
        Err(std::fs::TryLockError::Error(e)) => {
            tracing::warn!(error = %e, "the data dir cannot be locked: nothing stops a second server on it");
            Ok(None)
        }
    }
}

/// Commands that work on a server's data refuse a data dir without a database (a mistyped
/// `--data-dir` would otherwise get a new, empty one made for it).
fn must_exist(data_dir: &Path) -> CliResult {
    if data_dir.join(crate::storage::sqlite::DB_FILE).is_file() {
        Ok(())
    } else {
        Err(Failed::new("数据目录中没有数据库：请检查 --data-dir，未作任何修改", "no database in the data directory: check --data-dir; nothing changed").into())
    }
}

fn open_state(data_dir: &Path, config: Config) -> Result<AppState, Box<dyn std::error::Error + Send + Sync>> {
    Ok(AppState::new(Arc::new(SqliteStorage::open(data_dir)?), config))
}

/// Serves on `listener` (bound by the caller) until Ctrl-C.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> CliResult {
    tracing::info!(addr = %listener.local_addr()?, "serving");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    };
    crate::serve_until(listener, state, shutdown).await?;
    Ok(())
}

/// Runs a parsed command.
pub async fn run(cli: Cli) -> CliResult {
    match cli.command {
        Command::Serve { listen, data_dir, token_days } => {
            let abort_after_ops = std::env::var(crate::service::ABORT_AFTER_OPS_ENV).ok().and_then(|v| v.parse().ok());
            let fault_hang = std::env::var(crate::service::FAULT_HANG_ENV).is_ok_and(|v| v == "1");
            let config =
                Config { token_ttl_ms: token_days.map(|d| d * 86_400_000), abort_after_ops, fault_hang, ..Config::default() };
            let _only_server = lock_data_dir(&data_dir)?;
            let state = open_state(&data_dir, config)?;
            serve(tokio::net::TcpListener::bind(listen).await?, state).await
        }
        Command::User { command } => run_user(command),
        Command::RevokeDevice { data_dir, device_id } => {
            must_exist(&data_dir)?;
            let state = open_state(&data_dir, Config::default())?;
            let now = state.service.now_ms();
            if !state.service.storage().revoke_device(&device_id, now)? {
                return Err(Failed::new("设备不存在", "no such device").into());
            }
            println!("已停用设备 {device_id}，其令牌作废 (device revoked)");
            Ok(())
        }
        Command::PurgeTombstones { data_dir, up_to_seq } => {
            must_exist(&data_dir)?;
            let storage = SqliteStorage::open(&data_dir)?;
            let last = storage.max_seq()?;
            let up_to = match up_to_seq {
                Some(s) if s > last => {
                    let zh = format!("序号 {s} 超过最新变更的序号 {last}，未作任何修改");
                    return Err(format!("{zh} (--up-to-seq {s} is past the last change, seq {last}; nothing changed)").into());
                }
                Some(s) => s,
                None => last,
            };
            let n = storage.purge_tombstones(up_to)?;
            println!("已清除序号 {up_to} 及以前的删除记录 {n} 条 (purged {n} tombstones up to seq {up_to})");
            Ok(())
        }
        Command::Backup { data_dir, to } => {
            must_exist(&data_dir)?;
            let info = match crate::storage::sqlite_backup::backup(&data_dir, &to) {
                Err(crate::StoreError::AlreadyExists) => {
                    return Err(Failed::new("目标文件已存在，未作任何修改", "the backup file exists already; nothing written").into())
                }
                r => r?,
            };
            println!(
                "备份完成：{}（序号 {}，{} 个用户，{:.1} MiB） (backup written)",
                to.display(),
                info.seq,
                info.users,
                info.bytes as f64 / (1 << 20) as f64
            );
            Ok(())
        }
        Command::Restore { data_dir, from } => {
            use crate::storage::sqlite_backup::{restore, Restored};
            if !from.is_file() {
                return Err(Failed::new("备份文件不存在，未作任何修改", "no such backup file; nothing changed").into());
            }
            let _no_server = lock_data_dir(&data_dir)?;
            let now = gridline_core::clock::Clock::now_ms(&gridline_core::clock::SystemClock);
            match restore(&data_dir, &from, now) {
                Ok(Restored::Done(info)) => {
                    println!(
                        "恢复完成：备份的序号为 {}，服务器从序号 {} 继续；各设备下次同步时重新下载数据 (restored; every device re-downloads its data on its next sync)",
                        info.backup_seq, info.seq
                    );
                    if let Some(old) = info.replaced {
                        println!("被替换的数据库保留为 {} (the database replaced is kept)", old.display());
                    }
                    Ok(())
                }
                Ok(Restored::ServerRunning) => Err(Failed::new(
                    "服务器正在使用该数据库：请先停止服务器，未作任何修改",
                    "a server has the database open: stop it first; nothing changed",
                )
                .into()),
                Err(e) => Err(format!("恢复失败 (restore failed: {e})").into()),
            }
        }
        Command::Import { data_dir, file } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("文件无法读取 (cannot read {}: {e})", file.display()))?;
            // A running server keeps the area tree in memory: it is loaded while none runs.
            let _no_server = lock_data_dir(&data_dir)?;
            let state = open_state(&data_dir, Config::default())?;
            let n = crate::import::import_reference(&state.service, &text)?;
            println!(
                "导入完成：区域新增 {}（已有 {}），部门新增 {}（已有 {}），事件类别新增 {}（已有 {}） (imported: new, already held)",
                n.areas.0, n.areas.1, n.departments.0, n.departments.1, n.categories.0, n.categories.1
            );
            Ok(())
        }
        Command::List { what, data_dir, within } => {
            must_exist(&data_dir)?;
            let storage = SqliteStorage::open(&data_dir)?;
            print_lines(list_lines(&storage, what, within.as_deref())?);
            Ok(())
        }
        Command::Demo { data_dir, listen, households } => {
            let _only_server = lock_data_dir(&data_dir)?;
            // Bound first: a port in use is told before the seeding, and the printout gives the
            // port bound (`--listen 127.0.0.1:0` picks one).
            let listener = tokio::net::TcpListener::bind(listen).await?;
            let state = open_state(&data_dir, Config::default())?;
            let creds = tokio::task::spawn_blocking({
                let service = state.service.clone();
                move || crate::demo::seed_if_empty(&service, households as usize)
            })
            .await??;
            crate::demo::print_credentials(&creds, listener.local_addr()?, &data_dir);
            serve(listener, state).await
        }
    }
}

fn run_user(command: UserCommand) -> CliResult {
    match command {
        UserCommand::Add { user: UserArgs { data_dir, username }, password, role, scope, name } => {
            let password = password.read()?;
            let state = open_state(&data_dir, Config::default())?;
            let spec = UserSpec { username, password, role, scope: scope.scope(), display_name: name };
            let user = state.service.add_user(&spec)?;
            println!("已创建用户 {}（{}），编号 {} (user created)", user.username, user.role.label_zh(), user.id);
        }
        UserCommand::List { data_dir } => {
            must_exist(&data_dir)?;
            let storage = SqliteStorage::open(&data_dir)?;
            let mut lines = vec!["用户名 username\t角色 role\t范围版本 epoch\t状态 state\t范围 scope".to_owned()];
            for u in storage.users()? {
                let state = if u.disabled { "停用 off" } else { "启用 on" };
                let scope = serde_json::to_string(&u.scope)?;
                lines.push(format!("{}\t{} {}\t{}\t{state}\t{scope}", u.username, u.role.label_zh(), u.role.as_str(), u.scope_epoch));
            }
            print_lines(lines);
        }
        UserCommand::SetPassword { user: UserArgs { data_dir, username }, password } => {
            must_exist(&data_dir)?;
            let password = password.read()?;
            let state = open_state(&data_dir, Config::default())?;
            if !state.service.set_password(&username, &password)? {
                return Err(no_such_user());
            }
            println!("已重设 {username} 的密码，其控制台登录已全部退出 (password replaced; console sessions ended)");
        }
        UserCommand::Disable { user } => set_disabled(&user.data_dir, &user.username, true)?,
        UserCommand::Enable { user } => set_disabled(&user.data_dir, &user.username, false)?,
        UserCommand::SetScope { user: UserArgs { data_dir, username }, role, scope } => {
            must_exist(&data_dir)?;
            let state = open_state(&data_dir, Config::default())?;
            let user = state.service.storage().user_by_name(&username)?.ok_or_else(no_such_user)?;
            let epoch =
                state.service.set_scope(&username, role.unwrap_or(user.role), &scope.scope())?.ok_or_else(no_such_user)?;
            println!("已更新 {username} 的工作范围，范围版本为 {epoch}；其设备下次同步时按新范围下载 (scope replaced)");
        }
    }
    Ok(())
}

fn set_disabled(data_dir: &Path, username: &str, disabled: bool) -> CliResult {
    must_exist(data_dir)?;
    let storage = SqliteStorage::open(data_dir)?;
    if !storage.set_disabled(username, disabled)? {
        return Err(no_such_user());
    }
    println!("{} {username} {}", if disabled { "已停用用户" } else { "已启用用户" }, if disabled { "(user disabled)" } else { "(user enabled)" });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(password: Option<&str>, password_stdin: bool) -> PasswordArgs {
        PasswordArgs { password: password.map(str::to_owned), password_stdin }
    }

    fn no_prompt(_: &str) -> std::io::Result<String> {
        panic!("not a terminal: nobody is asked")
    }

    #[test]
    fn a_password_comes_from_the_flag_stdin_or_the_terminal_prompt() {
        let read = |a: PasswordArgs, input: &str, terminal: bool, prompt: &dyn Fn(&str) -> std::io::Result<String>| {
            a.read_from(input.as_bytes(), terminal, prompt).map_err(|e| e.to_string())
        };
        assert_eq!(read(args(Some("Flag#1"), false), "", false, &no_prompt).unwrap(), "Flag#1");
        // Only the first line, without its line ending; spaces inside are the password's own.
        assert_eq!(read(args(None, true), "Std in#2\r\nsecond line\n", false, &no_prompt).unwrap(), "Std in#2");
        assert_eq!(read(args(None, true), "", false, &no_prompt).unwrap(), "", "an empty one goes on to be refused");
        // Neither flag: asked twice on a terminal; refused elsewhere.
        let same = |_: &str| Ok("Typed#3".to_owned());
        assert_eq!(read(args(None, false), "", true, &same).unwrap(), "Typed#3");
        let asked = std::cell::Cell::new(0);
        let differ = |_: &str| {
            asked.set(asked.get() + 1);
            Ok(format!("Typed#{}", asked.get()))
        };
        assert!(read(args(None, false), "", true, &differ).unwrap_err().contains("differ"));
        assert!(read(args(None, false), "ignored\n", false, &no_prompt).unwrap_err().contains("--password-stdin"));
    }

    #[test]
    fn the_password_flags_exclude_each_other() {
        let parse = |extra: &[&str]| {
            let mut argv = vec!["gridline-server", "user", "set-password", "--username", "wang"];
            argv.extend_from_slice(extra);
            Cli::try_parse_from(argv)
        };
        assert!(parse(&["--password", "x", "--password-stdin"]).is_err());
        assert!(parse(&["--password-stdin"]).is_ok());
        assert!(parse(&[]).is_ok(), "neither: the terminal prompt");
    }

    #[test]
    fn commands_on_a_servers_data_refuse_a_data_dir_without_a_database_and_make_none() {
        let root = tempfile::tempdir().unwrap();
        let typo = root.path().join("dta");
        let user = || UserArgs { data_dir: typo.clone(), username: "wang".into() };
        for command in [
            UserCommand::List { data_dir: typo.clone() },
            UserCommand::Disable { user: user() },
            UserCommand::SetPassword { user: user(), password: PasswordArgs { password: Some("long-enough-1".into()), password_stdin: false } },
        ] {
            let e = run_user(command).unwrap_err().to_string();
            assert!(e.contains("--data-dir") && e.contains("数据目录中没有数据库"), "{e}");
            assert!(!typo.exists(), "no data dir made");
        }
        // A new server's first user makes the database.
        let add = UserCommand::Add {
            user: user(),
            password: PasswordArgs { password: Some("long-enough-1".into()), password_stdin: false },
            role: Role::Admin,
            scope: ScopeArgs::default(),
            name: String::new(),
        };
        run_user(add).unwrap();
        assert!(typo.join(crate::storage::sqlite::DB_FILE).is_file());
        run_user(UserCommand::List { data_dir: typo.clone() }).unwrap();
    }

    #[test]
    fn one_serving_server_holds_its_data_dir_and_a_second_is_refused_until_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock_data_dir(dir.path()).unwrap();
        assert!(first.is_some());
        let e = lock_data_dir(dir.path()).unwrap_err().to_string();
        assert!(e.contains("另一个服务器正在使用该数据目录"), "{e}");
        // Another data dir is another server's.
        let other = tempfile::tempdir().unwrap();
        assert!(lock_data_dir(other.path()).unwrap().is_some());
        drop(first);
        assert!(lock_data_dir(dir.path()).unwrap().is_some(), "free once the first stopped");
    }

    #[test]
    fn token_lifetimes_and_demo_sizes_out_of_range_are_refused_when_parsed() {
        let parse = |argv: &[&str]| Cli::try_parse_from(argv.iter().copied());
        for days in ["0", "--token-days=-1", "3651", "99999999999999"] {
            let argv: &[&str] = if days.starts_with("--") { &["gridline-server", "serve", days] } else { &["gridline-server", "serve", "--token-days", days] };
            let e = parse(argv).unwrap_err();
            assert!(e.to_string().contains("--token-days"), "{days}: {e}");
        }
        let Command::Serve { token_days, .. } = parse(&["gridline-server", "serve", "--token-days", "30"]).unwrap().command else {
            panic!("serve")
        };
        assert_eq!(token_days, Some(30));
        for n in ["0", "1000001"] {
            let e = parse(&["gridline-server", "demo", "--households", n]).unwrap_err();
            assert!(e.to_string().contains("--households"), "{n}: {e}");
        }
        let Command::Demo { households, .. } = parse(&["gridline-server", "demo"]).unwrap().command else { panic!("demo") };
        assert_eq!(households, 5000);
    }
}
