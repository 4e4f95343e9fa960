//! The setup of `scripts/lib.sh` (`ensure_tools`) honours `CARGO_HOME`: the cargo installs go
//! to `$CARGO_HOME/bin`, and `PATH` and `WASM_BINDGEN_BIN` (what `worker-build` runs instead
//! of downloading wasm-bindgen) point there; without `CARGO_HOME`, to `~/.cargo/bin`.
//!
//! The real installs take minutes, so `cargo`, `rustup` and `npm` are stubs here that record
//! how they were called; `cargo install` creates a binary that prints its version, as the
//! real one would. Everything else is the real `lib.sh`, copied into a scratch repository.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{root, temp_dir};

/// A scratch copy of the repository's setup, with stub tools and a log of their calls.
struct Setup {
    dir: PathBuf,
    repo: PathBuf,
    home: PathBuf,
    log: PathBuf,
}

/// What one `ensure_tools` run printed and which paths it ended with.
struct Run {
    ok: bool,
    output: String,
    wasm_bindgen_bin: String,
    worker_build: String,
}

const STUB_CARGO: &str = r#"#!/bin/sh
# Records the call; `cargo install CRATE --version V ... --root R` "installs" a binary
# printing its version into R/bin, else into $CARGO_HOME/bin as cargo would.
echo "cargo $* | CARGO_HOME=${CARGO_HOME-unset}" >> "$STUB_LOG"
[ "$1" = install ] || exit 0
crate="$2"; version=""; dest="${CARGO_HOME:-$HOME/.cargo}"
while [ $# -gt 0 ]; do
  case "$1" in
    --version) version="$2"; shift ;;
    --root) dest="$2"; shift ;;
  esac
  shift
done
case "$crate" in
  wasm-bindgen-cli) bin=wasm-bindgen ;;
  *) bin="$crate" ;;
esac
mkdir -p "$dest/bin"
printf '#!/bin/sh\necho "%s %s"\n' "$bin" "$version" > "$dest/bin/$bin"
chmod +x "$dest/bin/$bin"
"#;

const STUB_RUSTUP: &str = r#"#!/bin/sh
echo "rustup $*" >> "$STUB_LOG"
[ "$1 $2 $3" = "target list --installed" ] && echo wasm32-unknown-unknown
exit 0
"#;

const STUB_NPM: &str = r#"#!/bin/sh
echo "npm $*" >> "$STUB_LOG"
"#;

impl Setup {
    fn new(label: &str) -> Setup {
        let dir = temp_dir(label);
        let repo = dir.join("repo");
        std::fs::create_dir_all(repo.join("scripts")).expect("scratch repo");
        for file in ["scripts/lib.sh", "Cargo.toml", "package-lock.json"] {
            std::fs::copy(root().join(file), repo.join(file))
                .unwrap_or_else(|e| panic!("copy {file}: {e}"));
        }
        // Installed npm packages, newer than the lock: ensure_tools must not run `npm ci`.
        std::fs::create_dir_all(repo.join("node_modules")).expect("node_modules");
        std::fs::write(repo.join("node_modules/.package-lock.json"), "{}").expect("npm marker");

        let stubs = dir.join("stubs");
        std::fs::create_dir_all(&stubs).expect("stubs");
        for (name, text) in [
            ("cargo", STUB_CARGO),
            ("rustup", STUB_RUSTUP),
            ("npm", STUB_NPM),
        ] {
            write_executable(&stubs.join(name), text);
        }
        let home = dir.join("home");
        std::fs::create_dir_all(&home).expect("home");
        Setup {
            log: dir.join("calls.log"),
            dir,
            repo,
            home,
        }
    }

    /// Sources lib.sh and runs `ensure_tools`, with only the stubs and the system's own
    /// directories on `PATH` (so no real cargo or worker-build can be found).
    fn ensure_tools(&self, cargo_home: Option<&Path>) -> Run {
        let script = "source \"$1/scripts/lib.sh\" && ensure_tools \
             && echo \"WASM_BINDGEN_BIN=$WASM_BINDGEN_BIN\" \
             && echo \"worker-build=$(command -v worker-build)\"";
        let mut cmd = Command::new("bash");
        cmd.args(["-c", script, "bash"])
            .arg(&self.repo)
            .env_clear()
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", self.dir.join("stubs").display()),
            )
            .env("HOME", &self.home)
            .env("STUB_LOG", &self.log);
        if let Some(cargo_home) = cargo_home {
            cmd.env("CARGO_HOME", cargo_home);
        }
        let out = cmd.output().expect("run bash");
        let output = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let value = |key: &str| {
            output
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{key}=")))
                .unwrap_or_default()
                .to_string()
        };
        Run {
            ok: out.status.success(),
            wasm_bindgen_bin: value("WASM_BINDGEN_BIN"),
            worker_build: value("worker-build"),
            output,
        }
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn installs(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| c.starts_with("cargo install"))
            .collect()
    }
}

fn write_executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write stub");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod stub");
}

/// The `wasm-bindgen = "=V"` pin of Cargo.toml, which the installed CLI must equal.
fn pinned_wasm_bindgen() -> String {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).expect("Cargo.toml");
    manifest
        .lines()
        .find_map(|l| l.strip_prefix("wasm-bindgen = \"="))
        .and_then(|rest| rest.split('"').next())
        .expect("a wasm-bindgen pin in Cargo.toml")
        .to_string()
}

/// Runs `ensure_tools` twice with `cargo_home`: the first run installs both tools into
/// `cargo_root`, where `PATH` and `WASM_BINDGEN_BIN` then find them; the second installs nothing.
fn assert_setup_installs_into(setup: &Setup, cargo_home: Option<&Path>, cargo_root: &Path) {
    let first = setup.ensure_tools(cargo_home);
    assert!(first.ok, "ensure_tools failed:\n{}", first.output);
    let installs = setup.installs();
    assert_eq!(installs.len(), 2, "{installs:#?}\n{}", first.output);
    let root_arg = format!("--root {}", cargo_root.display());
    assert!(
        installs.iter().all(|c| c.contains(&root_arg)),
        "installs must target {}: {installs:#?}",
        cargo_root.display()
    );
    assert!(installs[0].starts_with("cargo install worker-build --version "));
    assert!(installs[1].starts_with(&format!(
        "cargo install wasm-bindgen-cli --version {} ",
        pinned_wasm_bindgen()
    )));
    let bin = cargo_root.join("bin");
    assert_eq!(
        first.wasm_bindgen_bin,
        bin.join("wasm-bindgen").display().to_string()
    );
    assert_eq!(
        first.worker_build,
        bin.join("worker-build").display().to_string()
    );

    let second = setup.ensure_tools(cargo_home);
    assert!(second.ok, "second ensure_tools failed:\n{}", second.output);
    assert_eq!(setup.installs().len(), 2, "a second run reinstalled");
    assert!(
        !setup.calls().iter().any(|c| c.starts_with("npm")),
        "npm ran though node_modules is current: {:#?}",
        setup.calls()
    );
}

#[test]
fn setup_installs_into_cargo_home_and_points_worker_build_there() {
    let setup = Setup::new("cargo-home");
    let cargo_home = setup.dir.join("elsewhere/cargo");
    assert_setup_installs_into(&setup, Some(&cargo_home), &cargo_home);
    assert!(
        !setup.home.join(".cargo").exists(),
        "something was put in ~/.cargo although CARGO_HOME is set"
    );
}

#[test]
fn setup_without_cargo_home_uses_home_dot_cargo() {
    let setup = Setup::new("default-cargo-home");
    assert_setup_installs_into(&setup, None, &setup.home.join(".cargo"));
}
