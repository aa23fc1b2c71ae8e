//! `#[algorithm(name = "...", version = "...")]`: registers a function
//! `fn(&Context, P) -> Result<Output>` as an algohost algorithm. Plugin
//! crates use it as `algohost_sdk::algorithm`, whose docs list every key
//! (name, version, outputs, idempotent) and what each means.
//!
//! Misuse fails to compile with a message that says what to write instead.

use proc_macro::TokenStream;
use proc_macro2::Span;
use quote::{format_ident, quote};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, FnArg, ItemFn, Lit, LitStr, Meta, ReturnType, Token, Type};

#[proc_macro_attribute]
pub fn algorithm(attr: TokenStream, item: TokenStream) -> TokenStream {
    match expand(attr.into(), item.into()) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

struct Args {
    name: LitStr,
    version: LitStr,
    outputs: Vec<(String, Vec<String>)>,
    idempotent: bool,
}

fn string_value(expr: &Expr, key: &str) -> syn::Result<LitStr> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s.clone()),
        other => Err(syn::Error::new(
            other.span(),
            format!("`{key}` must be a string literal, e.g. {key} = \"...\""),
        )),
    }
}

fn parse_args(attr: proc_macro2::TokenStream) -> syn::Result<Args> {
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(attr.clone())?;
    let mut name = None;
    let mut version = None;
    let mut outputs = Vec::new();
    let mut idempotent = false;
    for meta in metas {
        let Meta::NameValue(nv) = &meta else {
            return Err(syn::Error::new(
                meta.span(),
                "expected `key = value`; allowed keys: name, version, outputs, idempotent",
            ));
        };
        let key = nv
            .path
            .get_ident()
            .map(|i| i.to_string())
            .unwrap_or_default();
        match key.as_str() {
            "name" => name = Some(string_value(&nv.value, "name")?),
            "version" => version = Some(string_value(&nv.value, "version")?),
            "idempotent" => match &nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Bool(b), ..
                }) => idempotent = b.value,
                other => {
                    return Err(syn::Error::new(
                        other.span(),
                        "`idempotent` must be `true` or `false`",
                    ));
                }
            },
            "outputs" => {
                let Expr::Array(array) = &nv.value else {
                    return Err(syn::Error::new(
                        nv.value.span(),
                        "`outputs` must be an array of strings, e.g. outputs = [\"schedule: ts, battery_kw\"]",
                    ));
                };
                for elem in &array.elems {
                    let spec = string_value(elem, "outputs")?.value();
                    let (frame, columns) = match spec.split_once(':') {
                        Some((f, cols)) => (
                            f.trim().to_owned(),
                            cols.split(',')
                                .map(|c| c.trim().to_owned())
                                .filter(|c| !c.is_empty())
                                .collect(),
                        ),
                        None => (spec.trim().to_owned(), Vec::new()),
                    };
                    if !is_snake_case(&frame) {
                        return Err(syn::Error::new(
                            elem.span(),
                            format!("output frame name `{frame}` must be snake_case"),
                        ));
                    }
                    outputs.push((frame, columns));
                }
            }
            other => {
                return Err(syn::Error::new(
                    nv.path.span(),
                    format!(
                        "unknown key `{other}`; allowed keys: name, version, outputs, idempotent"
                    ),
                ));
            }
        }
    }
    let name = name.ok_or_else(|| {
        syn::Error::new(
            Span::call_site(),
            "missing `name = \"...\"` (a snake_case algorithm name)",
        )
    })?;
    let version = version.ok_or_else(|| {
        syn::Error::new(
            Span::call_site(),
            "missing `version = \"...\"` (a semantic version such as \"0.1.0\")",
        )
    })?;
    if !is_snake_case(&name.value()) {
        return Err(syn::Error::new(
            name.span(),
            format!(
                "algorithm name `{}` must be snake_case: lowercase letters, digits and `_`, starting with a letter",
                name.value()
            ),
        ));
    }
    if !is_semver(&version.value()) {
        return Err(syn::Error::new(
            version.span(),
            format!(
                "version `{}` must be a semantic version such as \"0.1.0\"",
                version.value()
            ),
        ));
    }
    Ok(Args {
        name,
        version,
        outputs,
        idempotent,
    })
}

fn is_snake_case(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_semver(s: &str) -> bool {
    let core = s.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

fn doc_string(func: &ItemFn) -> String {
    let lines: Vec<String> = func
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => Some(s.value().trim().to_owned()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    lines.join("\n").trim().to_owned()
}

const SIGNATURE: &str =
    "expected `fn(ctx: &Context, params: P) -> Result<Output>` where P: Deserialize + JsonSchema";

fn expand(
    attr: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
) -> syn::Result<proc_macro2::TokenStream> {
    let args = parse_args(attr)?;
    let func: ItemFn = syn::parse2(item)
        .map_err(|e| syn::Error::new(e.span(), "#[algorithm] goes on a function"))?;
    let sig = &func.sig;
    if sig.asyncness.is_some() {
        return Err(syn::Error::new(
            sig.asyncness.span(),
            "an algorithm cannot be `async`; it runs on a worker thread",
        ));
    }
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new(
            sig.generics.span(),
            "an algorithm cannot be generic",
        ));
    }
    if sig.inputs.len() != 2 {
        return Err(syn::Error::new(
            sig.inputs.span(),
            format!("{SIGNATURE}; found {} parameter(s)", sig.inputs.len()),
        ));
    }
    let mut inputs = sig.inputs.iter();
    let ctx_arg = inputs.next().expect("two inputs");
    let params_arg = inputs.next().expect("two inputs");
    let FnArg::Typed(ctx_pat) = ctx_arg else {
        return Err(syn::Error::new(
            ctx_arg.span(),
            "an algorithm is a free function, not a method",
        ));
    };
    if !matches!(&*ctx_pat.ty, Type::Reference(r) if r.mutability.is_none()) {
        return Err(syn::Error::new(
            ctx_pat.ty.span(),
            format!("the first parameter must be `&Context`; {SIGNATURE}"),
        ));
    }
    let FnArg::Typed(params_pat) = params_arg else {
        return Err(syn::Error::new(params_arg.span(), SIGNATURE));
    };
    if matches!(&*params_pat.ty, Type::Reference(_)) {
        return Err(syn::Error::new(
            params_pat.ty.span(),
            "params are taken by value: `params: P`, not `&P`",
        ));
    }
    if matches!(sig.output, ReturnType::Default) {
        return Err(syn::Error::new(
            sig.span(),
            format!("missing return type; {SIGNATURE}"),
        ));
    }
    let params_ty = &params_pat.ty;
    let fn_name = &sig.ident;
    let run_name = format_ident!("__algohost_run_{}", fn_name);
    let run_json_name = format_ident!("__algohost_run_json_{}", fn_name);
    let call_name = format_ident!("__algohost_call_{}", fn_name);
    let schema_name = format_ident!("__algohost_schema_{}", fn_name);
    let name = &args.name;
    let idempotent = args.idempotent;
    let version = &args.version;
    let description = doc_string(&func);
    let outputs = args
        .outputs
        .iter()
        .map(|(frame, cols)| quote! { (#frame, &[#(#cols),*]) });

    Ok(quote! {
        #func

        #[doc(hidden)]
        fn #schema_name() -> ::algohost_sdk::serde_json::Value {
            ::algohost_sdk::params::schema_of::<#params_ty>()
        }

        #[doc(hidden)]
        fn #call_name(
            ctx: &::algohost_sdk::Context,
            params: #params_ty,
        ) -> ::algohost_sdk::Result<::algohost_sdk::Output> {
            let result: ::algohost_sdk::Result<::algohost_sdk::Output> = #fn_name(ctx, params);
            result
        }

        #[doc(hidden)]
        fn #run_name(
            ctx: &::algohost_sdk::Context,
            params: ::algohost_sdk::serde_json::Value,
        ) -> ::algohost_sdk::Result<::algohost_sdk::Output> {
            #call_name(ctx, ::algohost_sdk::params::params_from(params)?)
        }

        #[doc(hidden)]
        fn #run_json_name(
            ctx: &::algohost_sdk::Context,
            params: &str,
        ) -> ::algohost_sdk::Result<::algohost_sdk::Output> {
            #call_name(ctx, ::algohost_sdk::params::params_from_json(params)?)
        }

        ::algohost_sdk::inventory::submit! {
            ::algohost_sdk::AlgorithmRegistration {
                name: #name,
                version: #version,
                description: #description,
                idempotent: #idempotent,
                outputs: &[#(#outputs),*],
                params_schema: #schema_name,
                run: #run_name,
                run_json: ::core::option::Option::Some(#run_json_name),
            }
        }
    })
}
