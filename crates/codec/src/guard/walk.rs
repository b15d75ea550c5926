//! The interpreter: walks bytes against a [`Struct`] without decoding or allocating
//! anything the bytes ask for, and stops at the first length that claims more bytes
//! than remain.

use std::fmt;

use super::schema::{min_size, struct_min_size, Kind, Struct};
use super::{LengthEncoding, LengthPrefix};

/// Where in the message a [`Fault`] happened: one step of its path.
#[derive(Debug, Clone, Copy)]
enum Step {
    Field(&'static str),
    Index(u64),
    Tag(u32),
}

/// Why a walk stopped: what was wrong, and where.
#[derive(Debug, Clone)]
pub(super) struct Fault {
    /// Innermost step first (steps are added while the error unwinds).
    path: Vec<Step>,
    /// What was wrong.
    problem: String,
    /// How many more bytes the value needed; 0 when the problem is not a shortfall.
    pub(super) needed: u64,
}

impl Fault {
    fn short(needed: u64, left: usize, what: fmt::Arguments<'_>) -> Fault {
        Fault {
            path: Vec::new(),
            problem: format!("{what} exceeds the {left} bytes left"),
            needed: needed.saturating_sub(left as u64).max(1),
        }
    }

    fn invalid(problem: String) -> Fault {
        Fault {
            path: Vec::new(),
            problem,
            needed: 0,
        }
    }

    fn within(mut self, step: Step) -> Fault {
        self.path.push(step);
        self
    }

    /// The fault as `Struct.path: problem`.
    pub(super) fn describe(&self, root: &str) -> String {
        let mut out = String::from(root);
        for step in self.path.iter().rev() {
            match step {
                Step::Field(name) => {
                    out.push('.');
                    out.push_str(name);
                }
                Step::Index(i) => out.push_str(&format!("[{i}]")),
                Step::Tag(tag) => out.push_str(&format!(".<tag {tag}>")),
            }
        }
        format!("{out}: {}", self.problem)
    }
}

/// The cursor of one walk.
pub(super) struct Walker<'a, 'p> {
    bytes: &'a [u8],
    pos: usize,
    /// Where the current value must end: the body's end, or a tagged field's.
    end: usize,
    version: i16,
    flexible: bool,
    prefixes: Option<&'p mut Vec<LengthPrefix>>,
}

type Walk<T = ()> = Result<T, Fault>;

impl<'a, 'p> Walker<'a, 'p> {
    /// A walker over `bytes` at `version`; records every length prefix in `prefixes`.
    pub(super) fn new(
        bytes: &'a [u8],
        version: i16,
        flexible: bool,
        prefixes: Option<&'p mut Vec<LengthPrefix>>,
    ) -> Self {
        Walker {
            bytes,
            pos: 0,
            end: bytes.len(),
            version,
            flexible,
            prefixes,
        }
    }

    /// How many bytes the walk has consumed.
    pub(super) fn position(&self) -> usize {
        self.pos
    }

    fn left(&self) -> usize {
        self.end - self.pos
    }

    /// Walks one struct, its tagged fields included.
    pub(super) fn walk_struct(&mut self, s: &'static Struct) -> Walk {
        for field in s.fields_in(self.version) {
            self.walk_kind(&field.kind)
                .map_err(|f| f.within(Step::Field(field.name)))?;
        }
        if self.flexible {
            self.walk_tagged_fields(s)?;
        }
        Ok(())
    }

    fn walk_kind(&mut self, kind: &Kind) -> Walk {
        match kind {
            Kind::Fixed(width) => self.skip(*width, "value"),
            Kind::String => self.walk_blob(LengthKind::String),
            Kind::Bytes => self.walk_blob(LengthKind::Bytes),
            Kind::Array(element) => {
                let min = min_size(element, self.version, self.flexible);
                self.walk_array(min, |w| w.walk_kind(element))
            }
            Kind::Structs(s) => {
                let min = struct_min_size(s, self.version, self.flexible);
                self.walk_array(min, |w| w.walk_struct(s))
            }
            Kind::Struct(s) => self.walk_struct(s),
            Kind::NullableStruct(s) => match self.byte()? as i8 {
                -1 => Ok(()),
                1 => self.walk_struct(s),
                marker => Err(Fault::invalid(format!(
                    "nullable struct marker {marker} is neither -1 nor 1"
                ))),
            },
        }
    }

    /// A string or byte string: its length, then that many bytes.
    fn walk_blob(&mut self, kind: LengthKind) -> Walk {
        match self.length(kind)? {
            None => Ok(()),
            Some(len) => self.skip(len, kind.noun()),
        }
    }

    /// An array: its count, checked against the bytes left at `min_element` bytes per
    /// element (at least 1) before any element is walked, then each element.
    fn walk_array(
        &mut self,
        min_element: usize,
        mut element: impl FnMut(&mut Self) -> Walk,
    ) -> Walk {
        let Some(count) = self.length(LengthKind::Array)? else {
            return Ok(());
        };
        let per = min_element.max(1) as u64;
        let needed = (count as u64).saturating_mul(per);
        if needed > self.left() as u64 {
            return Err(Fault::short(
                needed,
                self.left(),
                format_args!("array of {count} elements (at least {per} bytes each)"),
            ));
        }
        for i in 0..count {
            element(self).map_err(|f| f.within(Step::Index(i as u64)))?;
        }
        Ok(())
    }

    /// The tagged-fields section: a count, then (tag, size, value) triples. Known
    /// tags are walked by their schema (kafka-protocol decodes them in place, not
    /// from `size` bytes) and must fill exactly `size` bytes; others are skipped.
    pub(super) fn walk_tagged_fields(&mut self, s: &'static Struct) -> Walk {
        let at = self.pos;
        let count = self.uvarint()?;
        self.record(at, LengthEncoding::UnsignedVarint { len: self.pos - at });
        // Each tagged field takes at least two bytes: its tag and its size.
        let needed = u64::from(count) * 2;
        if needed > self.left() as u64 {
            return Err(Fault::short(
                needed,
                self.left(),
                format_args!("{count} tagged fields (at least 2 bytes each)"),
            ));
        }
        for _ in 0..count {
            self.walk_tagged_field(s)?;
        }
        Ok(())
    }

    fn walk_tagged_field(&mut self, s: &'static Struct) -> Walk {
        let tag = self.uvarint()?;
        let size = self.tagged_size().map_err(|f| f.within(Step::Tag(tag)))?;
        match s.tagged_field(tag, self.version) {
            Some(field) => self
                .walk_sized(size, &field.kind)
                .map_err(|f| f.within(Step::Field(field.name))),
            None => self
                .skip(size, "tagged field")
                .map_err(|f| f.within(Step::Tag(tag))),
        }
    }

    /// A tagged field's size, checked against the bytes left.
    fn tagged_size(&mut self) -> Walk<usize> {
        let at = self.pos;
        let size = self.uvarint()? as usize;
        self.record(at, LengthEncoding::UnsignedVarint { len: self.pos - at });
        if size > self.left() {
            return Err(Fault::short(
                size as u64,
                self.left(),
                format_args!("tagged field of {size} bytes"),
            ));
        }
        Ok(size)
    }

    /// Walks a value of `kind` that must take exactly `size` bytes.
    fn walk_sized(&mut self, size: usize, kind: &Kind) -> Walk {
        let start = self.pos;
        let outer_end = std::mem::replace(&mut self.end, start + size);
        let walked = self.walk_kind(kind);
        self.end = outer_end;
        walked?;
        let used = self.pos - start;
        if used != size {
            return Err(Fault::invalid(format!(
                "tagged field declares {size} bytes but its value takes {used}"
            )));
        }
        Ok(())
    }

    /// A length or count: `None` for null, else checked to be non-negative (the
    /// caller checks it against the bytes left).
    fn length(&mut self, kind: LengthKind) -> Walk<Option<usize>> {
        let at = self.pos;
        if self.flexible {
            let raw = self.uvarint()?;
            self.record(at, LengthEncoding::UnsignedVarint { len: self.pos - at });
            return Ok(raw.checked_sub(1).map(|n| n as usize));
        }
        let raw = if kind == LengthKind::String {
            self.record(at, LengthEncoding::Int16);
            i32::from(i16::from_be_bytes(self.array::<2>()?))
        } else {
            self.record(at, LengthEncoding::Int32);
            i32::from_be_bytes(self.array::<4>()?)
        };
        match raw {
            -1 => Ok(None),
            n if n >= 0 => Ok(Some(n as usize)),
            n => Err(Fault::invalid(format!(
                "negative {} length {n}",
                kind.noun()
            ))),
        }
    }

    fn record(&mut self, offset: usize, encoding: LengthEncoding) {
        if let Some(prefixes) = self.prefixes.as_deref_mut() {
            prefixes.push(LengthPrefix { offset, encoding });
        }
    }

    /// An unsigned varint of at most five bytes that fits a `u32` (as Kafka writes
    /// them); longer or overflowing ones are refused.
    fn uvarint(&mut self) -> Walk<u32> {
        let mut value = 0u32;
        for i in 0..5 {
            let byte = self.byte()?;
            if i == 4 && byte > 0x0f {
                return Err(Fault::invalid("varint overflows 32 bits".to_owned()));
            }
            value |= u32::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(Fault::invalid("varint longer than 5 bytes".to_owned()))
    }

    fn byte(&mut self) -> Walk<u8> {
        Ok(self.array::<1>()?[0])
    }

    fn array<const N: usize>(&mut self) -> Walk<[u8; N]> {
        let start = self.pos;
        self.skip(N, "value")?;
        let mut out = [0u8; N];
        out.copy_from_slice(&self.bytes[start..self.pos]);
        Ok(out)
    }

    fn skip(&mut self, len: usize, what: &str) -> Walk {
        if len > self.left() {
            return Err(Fault::short(
                len as u64,
                self.left(),
                format_args!("{what} of {len} bytes"),
            ));
        }
        self.pos += len;
        Ok(())
    }
}

/// What a length prefix measures; decides its width outside flexible versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LengthKind {
    String,
    Bytes,
    Array,
}

impl LengthKind {
    fn noun(self) -> &'static str {
        match self {
            LengthKind::String => "string",
            LengthKind::Bytes => "bytes",
            LengthKind::Array => "array",
        }
    }
}
