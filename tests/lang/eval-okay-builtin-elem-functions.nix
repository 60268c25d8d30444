builtins.elem builtins.map [ builtins.map ]
