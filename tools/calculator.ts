// A calculator that cannot be abused: a small recursive-descent parser for
// numbers, + - * / % ^ (also **), parentheses, unary signs and a few
// functions. No eval, no property access, bounded input and exponent size.
// Results print like Python's str(float(x)) ("48 / 2 -> 24.0"), as in the paper.

export const MAX_EXPRESSION_LENGTH = 500;

const FUNCTIONS: Record<string, (...xs: number[]) => number> = {
  sqrt: Math.sqrt,
  abs: Math.abs,
  round: (x, d = 0) => Math.round(x * 10 ** d) / 10 ** d,
  floor: Math.floor,
  ceil: Math.ceil,
  min: Math.min,
  max: Math.max,
  log: Math.log,
  exp: Math.exp,
};

export class CalculatorError extends Error {}

type Token = { t: 'num'; v: number } | { t: 'op'; v: string } | { t: 'id'; v: string };

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (/[0-9.]/.test(c)) {
      const m = /^(\d[\d,]*\.?\d*|\.\d+)(e[+-]?\d+)?/i.exec(src.slice(i));
      if (!m) throw new CalculatorError(`bad number at position ${i + 1}`);
      const text = m[0].replace(/,(?=\d{3}\b)/g, '');
      if (text.includes(',')) throw new CalculatorError(`bad number ${m[0]}`);
      out.push({ t: 'num', v: Number(text) });
      i += m[0].length;
    } else if (src.startsWith('**', i)) {
      out.push({ t: 'op', v: '^' });
      i += 2;
    } else if ('+-*/%^(),×÷'.includes(c)) {
      out.push({ t: 'op', v: c === '×' ? '*' : c === '÷' ? '/' : c });
      i++;
    } else if (/[a-z]/i.test(c)) {
      const m = /^[a-z]+/i.exec(src.slice(i))!;
      out.push({ t: 'id', v: m[0].toLowerCase() });
      i += m[0].length;
    } else if (c === '$') {
      i++; // "$12" reads as 12
    } else {
      throw new CalculatorError(`unexpected character '${c}'`);
    }
  }
  return out;
}

export function evaluate(expression: string): number {
  if (expression.length > MAX_EXPRESSION_LENGTH) throw new CalculatorError(`expression longer than ${MAX_EXPRESSION_LENGTH} characters`);
  const toks = tokenize(expression);
  let p = 0;
  let depth = 0;
  const peek = () => toks[p];
  const isOp = (v: string) => peek()?.t === 'op' && peek()!.v === v;
  const expect = (v: string) => {
    if (!isOp(v)) throw new CalculatorError(`expected '${v}'`);
    p++;
  };
  const expr = (): number => {
    let v = term();
    while (isOp('+') || isOp('-')) v = (toks[p++]!.v === '+' ? 1 : -1) * term() + v;
    return v;
  };
  const term = (): number => {
    let v = unary();
    while (isOp('*') || isOp('/') || isOp('%')) {
      const op = toks[p++]!.v;
      const r = unary();
      if ((op === '/' || op === '%') && r === 0) throw new CalculatorError('division by zero');
      v = op === '*' ? v * r : op === '/' ? v / r : v % r;
    }
    return v;
  };
  const unary = (): number => {
    if (isOp('-')) {
      p++;
      return -unary();
    }
    if (isOp('+')) {
      p++;
      return unary();
    }
    return power();
  };
  const power = (): number => {
    const base = atom();
    if (isOp('^')) {
      p++;
      const e = unary();
      if (Math.abs(e) > 1000) throw new CalculatorError('exponent too large');
      return base ** e;
    }
    return base;
  };
  const atom = (): number => {
    const tok = toks[p++];
    if (!tok) throw new CalculatorError('unexpected end of expression');
    if (tok.t === 'num') return tok.v;
    if (tok.t === 'op' && tok.v === '(') {
      if (++depth > 100) throw new CalculatorError('too deeply nested');
      const v = expr();
      expect(')');
      depth--;
      return v;
    }
    if (tok.t === 'id') {
      if (tok.v === 'pi') return Math.PI;
      const fn = Object.hasOwn(FUNCTIONS, tok.v) ? FUNCTIONS[tok.v] : undefined;
      if (!fn) throw new CalculatorError(`unknown name '${tok.v}'`);
      expect('(');
      const args = [expr()];
      while (isOp(',')) {
        p++;
        args.push(expr());
      }
      expect(')');
      return fn(...args);
    }
    throw new CalculatorError(`unexpected '${tok.v}'`);
  };
  const v = expr();
  if (p < toks.length) throw new CalculatorError(`unexpected '${toks[p]!.v}'`);
  if (!Number.isFinite(v)) throw new CalculatorError('result is not a finite number');
  return v;
}

/** Python's str(float(x)): 24 → "24.0", 0.1 → "0.1", 1e21 → "1e+21". */
export function pythonFloat(x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e16) return `${x}.0`;
  return String(x);
}

/** The calculator tool's observation text: the value, or "Error: …". */
export function calculate(expression: string): string {
  try {
    return pythonFloat(evaluate(expression));
  } catch (e) {
    return `Error: ${e instanceof CalculatorError ? e.message : 'cannot evaluate'}`;
  }
}
