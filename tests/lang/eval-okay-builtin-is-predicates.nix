let vs = [ 1 1.0 "s" true null [ ] { } (x: x) builtins.map ./p ]; t = f: map f vs; in with builtins; {
  attrs = t isAttrs; list = t isList; function = t isFunction; string = t isString; int = t isInt;
  float = t isFloat; bool = t isBool; null = t isNull; path = t isPath;
}
