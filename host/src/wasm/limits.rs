//! Limits on what compiling a module may cost, checked before compiling it.
//!
//! Cranelift's time and memory grow with the amount of code, the number of
//! functions, the size of each and how deeply its blocks nest (a module of a
//! few megabytes can take minutes and gigabytes). A cheap pass over the binary
//! (no validation, no code generation) measures those and refuses a module
//! beyond a limit before the compiler sees it. The defaults leave the largest
//! real guests (the JavaScript and Python components) at most a third of each
//! limit; an operator who trusts a bigger module raises a limit by environment
//! variable. The module's author cannot: the limits protect the host that runs
//! other teams' modules.

use std::path::Path;

use wasmparser::{FunctionBody, Operator, Parser, Payload};

use crate::error::WasmError;

/// How much a module may cost to compile. [`Default`] gives the built-in
/// limits; [`CompileLimits::from_env`] applies the `MONGOSHIFT_WASM_MAX_*`
/// variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileLimits {
    /// Largest module file, in bytes (`MONGOSHIFT_WASM_MAX_MODULE_MB`).
    pub module_bytes: u64,
    /// Most bytes of function bodies, over every core module of a component
    /// (`MONGOSHIFT_WASM_MAX_CODE_MB`).
    pub code_bytes: u64,
    /// Most functions with a body, over every core module of a component
    /// (`MONGOSHIFT_WASM_MAX_FUNCTIONS`).
    pub functions: u64,
    /// Largest function body, in bytes (`MONGOSHIFT_WASM_MAX_FUNCTION_KB`).
    pub function_bytes: u64,
    /// Most locals one function declares (`MONGOSHIFT_WASM_MAX_LOCALS`).
    pub locals: u64,
    /// Deepest nesting of blocks, loops and ifs in one function
    /// (`MONGOSHIFT_WASM_MAX_NESTING`).
    pub nesting: u64,
}

impl Default for CompileLimits {
    fn default() -> Self {
        CompileLimits {
            module_bytes: 128 << 20,
            code_bytes: 32 << 20,
            functions: 100_000,
            function_bytes: 2 << 20,
            locals: 10_000,
            nesting: 5_000,
        }
    }
}

/// One limit: its variable, the unit of that variable, what it measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    ModuleSize,
    CodeSize,
    Functions,
    FunctionSize,
    Locals,
    Nesting,
}

impl Limit {
    const ALL: [Limit; 6] = [
        Limit::ModuleSize,
        Limit::CodeSize,
        Limit::Functions,
        Limit::FunctionSize,
        Limit::Locals,
        Limit::Nesting,
    ];

    fn var(self) -> &'static str {
        match self {
            Limit::ModuleSize => "MONGOSHIFT_WASM_MAX_MODULE_MB",
            Limit::CodeSize => "MONGOSHIFT_WASM_MAX_CODE_MB",
            Limit::Functions => "MONGOSHIFT_WASM_MAX_FUNCTIONS",
            Limit::FunctionSize => "MONGOSHIFT_WASM_MAX_FUNCTION_KB",
            Limit::Locals => "MONGOSHIFT_WASM_MAX_LOCALS",
            Limit::Nesting => "MONGOSHIFT_WASM_MAX_NESTING",
        }
    }

    /// How many measured units one unit of the variable is.
    fn scale(self) -> u64 {
        match self {
            Limit::ModuleSize | Limit::CodeSize => 1 << 20,
            Limit::FunctionSize => 1 << 10,
            Limit::Functions | Limit::Locals | Limit::Nesting => 1,
        }
    }

    fn of(self, l: &mut CompileLimits) -> &mut u64 {
        match self {
            Limit::ModuleSize => &mut l.module_bytes,
            Limit::CodeSize => &mut l.code_bytes,
            Limit::Functions => &mut l.functions,
            Limit::FunctionSize => &mut l.function_bytes,
            Limit::Locals => &mut l.locals,
            Limit::Nesting => &mut l.nesting,
        }
    }

    /// What was measured: "it has 200000 functions".
    fn describe(self, found: u64, at: usize) -> String {
        let f = format!("its function at byte offset {at:#x}");
        match self {
            Limit::ModuleSize => format!("it is {found} bytes"),
            Limit::CodeSize => format!("its functions' code is {found} bytes"),
            Limit::Functions => format!("it has {found} functions"),
            Limit::FunctionSize => format!("{f} has a body of {found} bytes"),
            Limit::Locals => format!("{f} declares {found} locals"),
            Limit::Nesting => format!("{f} nests blocks {found} deep"),
        }
    }

    /// The unit of an amount in messages.
    fn unit(self) -> &'static str {
        match self {
            Limit::ModuleSize | Limit::CodeSize | Limit::FunctionSize => " bytes",
            Limit::Functions | Limit::Locals | Limit::Nesting => "",
        }
    }
}

/// What a module would cost to compile, measured without compiling it. Each
/// per-function figure comes with the byte offset of that function's body.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Cost {
    code_bytes: u64,
    functions: u64,
    largest_function: (u64, usize),
    most_locals: (u64, usize),
    deepest_nesting: (u64, usize),
}

impl CompileLimits {
    /// The default limits with any `MONGOSHIFT_WASM_MAX_*` variable applied.
    /// A variable that is not a positive whole number is refused.
    pub fn from_env() -> Result<CompileLimits, WasmError> {
        let mut limits = CompileLimits::default();
        for limit in Limit::ALL {
            let Ok(value) = std::env::var(limit.var()) else {
                continue;
            };
            let n = value
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| WasmError::LimitSetting {
                    var: limit.var(),
                    value: value.clone(),
                })?;
            *limit.of(&mut limits) = n.saturating_mul(limit.scale());
        }
        Ok(limits)
    }

    /// Refuses a module file larger than the limit (before reading it).
    pub(crate) fn check_size(&self, path: &Path, len: u64) -> Result<(), WasmError> {
        self.refuse_over(path, Limit::ModuleSize, (len, 0))
    }

    /// Measures `binary` and refuses it if it exceeds a limit.
    pub(crate) fn check(&self, path: &Path, binary: &[u8]) -> Result<(), WasmError> {
        self.check_size(path, binary.len() as u64)?;
        let cost = measure(binary);
        self.refuse_over(path, Limit::CodeSize, (cost.code_bytes, 0))?;
        self.refuse_over(path, Limit::Functions, (cost.functions, 0))?;
        self.refuse_over(path, Limit::FunctionSize, cost.largest_function)?;
        self.refuse_over(path, Limit::Locals, cost.most_locals)?;
        self.refuse_over(path, Limit::Nesting, cost.deepest_nesting)
    }

    fn refuse_over(
        &self,
        path: &Path,
        limit: Limit,
        (found, at): (u64, usize),
    ) -> Result<(), WasmError> {
        let max = *limit.of(&mut { *self });
        if found <= max {
            return Ok(());
        }
        Err(WasmError::TooCostly {
            path: path.to_path_buf(),
            what: limit.describe(found, at),
            limit: max,
            over: found - max,
            unit: limit.unit(),
            var: limit.var(),
            setting: found.div_ceil(limit.scale()),
        })
    }
}

/// One pass over the module and, in a component, every core module inside.
/// Stops at the first malformed part: the compiler refuses the module there,
/// before compiling anything, with a better message.
fn measure(binary: &[u8]) -> Cost {
    let mut cost = Cost::default();
    for payload in Parser::new(0).parse_all(binary) {
        let Ok(payload) = payload else { break };
        let Payload::CodeSectionEntry(body) = payload else {
            continue;
        };
        let at = body.range().start;
        let size = body.range().len() as u64;
        cost.functions += 1;
        cost.code_bytes += size;
        let bigger = |(old, _): (u64, usize), new: u64| new > old;
        if bigger(cost.largest_function, size) {
            cost.largest_function = (size, at);
        }
        let n = locals(&body);
        if bigger(cost.most_locals, n) {
            cost.most_locals = (n, at);
        }
        let depth = nesting(&body);
        if bigger(cost.deepest_nesting, depth) {
            cost.deepest_nesting = (depth, at);
        }
    }
    cost
}

/// The locals a function declares.
fn locals(body: &FunctionBody<'_>) -> u64 {
    let Ok(reader) = body.get_locals_reader() else {
        return 0;
    };
    reader
        .into_iter()
        .map_while(Result::ok)
        .map(|(count, _)| u64::from(count))
        .sum()
}

/// The deepest nesting of blocks in a function.
fn nesting(body: &FunctionBody<'_>) -> u64 {
    let Ok(mut ops) = body.get_operators_reader() else {
        return 0;
    };
    let (mut depth, mut deepest) = (0u64, 0u64);
    while !ops.eof() {
        match ops.read() {
            Ok(
                Operator::Block { .. }
                | Operator::Loop { .. }
                | Operator::If { .. }
                | Operator::Try { .. }
                | Operator::TryTable { .. },
            ) => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            Ok(Operator::End) => depth = depth.saturating_sub(1),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    deepest
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_component_counts_the_functions_of_every_module_inside() {
        let fields =
            "(func (local i32 i64 i64) (block (loop (if (i32.const 0) (then nop))))) (func)";
        let component = format!("(component (core module {fields}) (core module {fields}))");
        let cost = measure(&wat::parse_str(&component).unwrap());
        assert_eq!(cost.functions, 4);
        assert_eq!(cost.most_locals.0, 3);
        assert_eq!(cost.deepest_nesting.0, 3);
        let one = measure(&wat::parse_str(format!("(module {fields})")).unwrap());
        assert_eq!(cost.code_bytes, 2 * one.code_bytes);
    }

    #[test]
    fn a_limit_names_its_variable_and_the_setting_that_admits_the_module() {
        let limits = CompileLimits {
            function_bytes: 1024,
            ..CompileLimits::default()
        };
        let body = format!("(module (func {}))", "nop ".repeat(2000));
        let err = limits
            .check(Path::new("m.wasm"), &wat::parse_str(body).unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("m.wasm is refused before compiling"), "{err}");
        assert!(
            err.contains("has a body of 2002 bytes, 978 bytes over the limit of 1024 bytes"),
            "{err}"
        );
        assert!(err.contains("MONGOSHIFT_WASM_MAX_FUNCTION_KB=2"), "{err}");
    }
}
